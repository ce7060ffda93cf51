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

        # Sign-in lockouts (django-axes) go to the audit trail.
        from axes.signals import user_locked_out

        from mall.staff_security import on_lockout

        user_locked_out.connect(on_lockout, dispatch_uid="mall.lockout_audit")


def _members_per_tier(codes):
    from django.db.models import Count

    from mall.models import Member

    return dict(Member.objects.filter(tier__in=codes).values_list("tier").annotate(n=Count("id")))
