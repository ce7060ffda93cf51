"""Plumbing that every app's interfaces share (DESIGN.md 2): the error model and its HTTP
mapping, strict DRF fields, pagination, the Idempotency-Key header, OpenAPI error shapes and the
admin mixins. The lowest layer: it imports Django and DRF only, never an app of ours."""
