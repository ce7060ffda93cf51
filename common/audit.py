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

The models registered (``mall.audit_registry``) are recorded only when staff write them
(``staff_writes_only``), with personal values masked (``mask``) and their records named
``model.create`` / ``model.update`` / ``model.delete`` (``name_the_event``); every event name is in
``EVENTS``. ``purge`` is the retention job (``mall.jobs.purge_audit_trail``, daily).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from auditlog.context import auditlog_value
from auditlog.middleware import AuditlogMiddleware
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.signals import pre_save
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

__all__ = ["EVENTS", "AuditContextMiddleware", "Action", "current_actor", "mask", "purge", "record",
           "record_access", "staff_writes_only"]

# Every event the trail holds, with its label (the auditors' filter lists them in this order).
EVENTS = {
    "model.create": _("Created (console)"),
    "model.update": _("Changed (console)"),
    "model.delete": _("Deleted (console)"),
    "admin.action": _("Admin action"),
    "admin.import": _("Import"),
    "admin.export": _("Export"),
    "admin.run_task": _("Job started by hand"),
    "points.adjustment": _("Points adjustment"),
    "tier.change": _("Tier set by staff"),
    "rules.gray_release": _("Rule set gray release"),
    "rules.gray_stop": _("Rule set gray release stopped"),
    "rules.publish": _("Rule set published"),
    "rules.rollback": _("Rule set rolled back"),
    "referrals.plan_publish": _("Reward plan published"),
    "stock.adjustment": _("Stock adjustment"),
    "stock.coupon_import": _("Coupon codes imported"),
    "stock.prize_restock": _("Prize restocked"),
    "redemption.ship": _("Redemption shipped"),
    "redemption.deliver": _("Redemption completed"),
    "redemption.cancel": _("Redemption cancelled and refunded"),
    "broadcast.send": _("Broadcast sent"),
    "pii.view": _("Personal data viewed"),
    "audit.export": _("Audit trail exported"),
}

MASK = "******"
PURGE_BATCH = 10_000  # rows per DELETE of the retention job: short locks on a big table


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
    """The actor and address of the request (or ``set_actor`` block) being served. auditlog
    leaves its context variable set after the block ends (it only disconnects the receiver that
    used it): a context whose receiver is gone is over, so a job or a test that runs later in the
    same thread is not taken for the last request's staff member."""
    try:
        context = auditlog_value.get()
    except LookupError:
        return {}
    duid = context.get("signal_duid")
    if duid is not None and not any(key[0] == duid for key, *_rest in pre_save.receivers):
        return {}
    return context


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
        additional_data=json.loads(json.dumps({"event": event, **(data or {})}, cls=DjangoJSONEncoder)),
    )


def record_access(obj: models.Model, fields: list[str] | tuple[str, ...], *, actor=None,
                  purpose: str = ""):
    """Record that ``actor`` saw ``fields`` of ``obj`` unmasked (personal data)."""
    return record("pii.view", obj, action=Action.ACCESS, actor=actor,
                  data={"fields": list(fields), **({"purpose": purpose} if purpose else {})})


def mask(value: str) -> str:
    """``AUDITLOG_MASK_CALLABLE``: a personal value (phone, e-mail, name, address) never enters
    the trail in clear, not even half of it (auditlog's default keeps the second half): the
    record says that it changed, from empty or to empty."""
    return value if value in ("", "None") else MASK


def staff_writes_only(sender, instance, action, **kwargs):
    """auditlog's ``pre_log`` receiver: the registered models' saves and deletions are recorded
    when staff make them (the admin, a staff API call). A member's own writes (signing in, the
    account page) and the jobs' are not staff writes: returning False skips the record."""
    actor = current_actor()
    return bool(actor is not None and getattr(actor, "is_staff", False))


EVENT_OF_ACTION = {Action.CREATE: "model.create", Action.UPDATE: "model.update",
                   Action.DELETE: "model.delete", Action.ACCESS: "model.access"}


def name_the_event(sender, instance, **kwargs):
    """``pre_save`` of ``LogEntry``: the records auditlog writes itself get an event too
    (``model.create`` / ``model.update`` / ``model.delete``), so the trail filters by event
    alone, and name their staff actor as ``record`` does (e-mail, else username)."""
    if instance.pk is not None:
        return
    if not isinstance(instance.additional_data, dict) or "event" not in instance.additional_data:
        instance.additional_data = {"event": EVENT_OF_ACTION.get(instance.action, "model.change"),
                                    **(instance.additional_data if isinstance(instance.additional_data, dict)
                                       else {})}
    if instance.actor_id is None:
        actor = current_actor()
        if actor is not None:
            instance.actor = actor
    if instance.actor_id is not None and not instance.actor_email:
        instance.actor_email = instance.actor.email or instance.actor.username


def purge(*, now=None) -> int:
    """Delete the records older than ``AUDIT_RETENTION_DAYS`` (the database refuses younger than
    183 days whatever the setting says); returns how many. Set-based, in batches of
    ``PURGE_BATCH`` rows by id; running it twice deletes nothing more."""
    from django.db import connection
    from django.utils import timezone

    days = max(183, int(settings.AUDIT_RETENTION_DAYS))
    before = (now or timezone.now()) - timedelta(days=days)
    table = _log_entry_model()._meta.db_table
    deleted = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE timestamp < %s "
                f"ORDER BY id LIMIT %s)", [before, PURGE_BATCH])
            deleted += cursor.rowcount
            if cursor.rowcount < PURGE_BATCH:
                return deleted


def _jsonable(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
