"""The audit trail: who did what to which object, old -> new values, when, from which address.

Records are django-auditlog's ``LogEntry`` rows (chosen over django-pghistory: one table with
actor, address, JSON diff and an ACCESS action for views of personal data, a model registry for
admin-edited models, and masking of fields; pghistory's per-model event tables and triggers would
duplicate every hot table). The database makes the table append-only (mall migration 0018): an
UPDATE is refused except the actor's SET NULL when a staff account is deleted (``actor_email``
keeps who it was), and a DELETE is refused for records younger than 183 days.

Two ways records are written:
- models registered with auditlog (``auditlog.registry``) record their saves and deletions
  themselves, with the actor and address ``AuditContextMiddleware`` puts in context;
- services record the operations that are more than one row's diff with ``record`` (an
  adjustment, a publication, a broadcast, an import), and views of unmasked personal data with
  ``record_access``.
"""

from __future__ import annotations

from typing import Any

from auditlog.context import auditlog_value
from auditlog.middleware import AuditlogMiddleware
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.module_loading import import_string

__all__ = ["AuditContextMiddleware", "Action", "current_actor", "record", "record_access"]


def _log_entry_model():
    from auditlog.models import LogEntry

    return LogEntry


class Action:
    """auditlog's actions (``LogEntry.Action``), importable without loading the models."""

    CREATE = 0
    UPDATE = 1
    DELETE = 2
    ACCESS = 3


class AuditContextMiddleware(AuditlogMiddleware):
    """auditlog's middleware, with the client address the throttles and django-axes use
    (``AUDIT_CLIENT_IP_CALLABLE``): a forged X-Forwarded-For must not rewrite the trail."""

    @staticmethod
    def _get_remote_addr(request):
        return import_string(settings.AUDIT_CLIENT_IP_CALLABLE)(request) or None


def _context() -> dict:
    try:
        return auditlog_value.get()
    except LookupError:
        return {}


def current_actor():
    """The signed-in user of the request being served, or None (a job, a shell, a hook)."""
    actor = _context().get("actor")
    return actor if getattr(actor, "is_authenticated", False) else None


def record(event: str, obj: models.Model | type[models.Model], *, action: int = Action.UPDATE,
           changes: dict[str, tuple[Any, Any] | list] | None = None, message: str = "",
           actor=None, data: dict | None = None):
    """Write one audit record of ``event`` (a dotted name such as ``"points.adjustment"``, what
    the auditors search by) on ``obj``, a row or, for an operation on many rows such as an import,
    the model. ``changes`` maps a field to ``(old, new)``; ``data`` is any further JSON context.
    The actor and address default to the request's (``AuditContextMiddleware``)."""
    context = _context()
    actor = actor if actor is not None else current_actor()
    # ``__class__``, not ``type()``: a request's lazy ``request.user`` reports its member's class.
    model = obj if isinstance(obj, type) else obj.__class__
    pk = "" if isinstance(obj, type) else str(obj.pk)
    LogEntry = _log_entry_model()
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(model, for_concrete_model=False),
        object_pk=pk,
        object_id=int(pk) if pk.isdigit() else None,
        object_repr=(str(model._meta.verbose_name_plural) if isinstance(obj, type) else str(obj))[:2000],
        action=action,
        changes={field: [_jsonable(old), _jsonable(new)] for field, (old, new) in (changes or {}).items()},
        changes_text=message,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=getattr(actor, "email", None) or getattr(actor, "username", None),
        remote_addr=context.get("remote_addr"),
        additional_data={"event": event, **(data or {})},
    )


def record_access(obj: models.Model, fields: list[str] | tuple[str, ...], *, actor=None,
                  purpose: str = ""):
    """Record that ``actor`` saw ``fields`` of ``obj`` unmasked (personal data)."""
    return record("pii.view", obj, action=Action.ACCESS, actor=actor,
                  data={"fields": list(fields), **({"purpose": purpose} if purpose else {})})


def _jsonable(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
