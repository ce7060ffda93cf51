from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MallConfig(AppConfig):
    name = "mall"
    verbose_name = _("Mall")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Bind @shared_task to our app in every process (web included), so .delay() uses our broker.
        from mall.celery import app  # noqa: F401
        from rules.tiers import register_usage

        # Publishing a rule set that drops a tier code members hold is refused (rules.services).
        register_usage("members", _("%(count)s member(s)"), _members_per_tier)

        # Daily tasks, badges and the streak's free draw react to activity in the apps below.
        from common.events import member_activity
        from mall.services.play import on_activity

        member_activity.connect(on_activity, dispatch_uid="mall.play")

        # Personal data is encrypted: every admin search on it goes through the blind index,
        # the packages' admins included (django.contrib.admin, before us, registered them all).
        from django.contrib import admin

        from common.admin import guard_personal_data_search

        guard_personal_data_search(admin.site)

        # The field keys are read at start-up: a malformed FIELD_ENCRYPTION_KEYS (or a key
        # provider that cannot start) stops every process with ImproperlyConfigured now, not
        # at the first member who signs in.
        from common import pii

        pii.provider()

        # The audit trail: the models it records by themselves, and (after migrate) the auditor
        # group's access to it and its retention job.
        from django.db.models.signals import post_migrate

        from mall import audit_registry

        audit_registry.install()
        post_migrate.connect(audit_registry.after_migrate, sender=self, dispatch_uid="mall.audit")

        # Sign-in lockouts (django-axes) go to the audit trail.
        from axes.signals import user_locked_out

        from mall.staff_security import on_lockout

        user_locked_out.connect(on_lockout, dispatch_uid="mall.lockout_audit")


def _members_per_tier(codes):
    from django.db.models import Count

    from mall.models import Member

    return dict(Member.objects.filter(tier__in=codes).values_list("tier").annotate(n=Count("id")))
