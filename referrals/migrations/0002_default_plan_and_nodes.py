"""The default reward plan (链动3+1, issue 9), published; and a node for every member who exists,
with the invite code the invite page already showed them (``referrals.services.tree``)."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

BATCH = 2000


def forwards(apps, schema_editor):
    from referrals.services.plans import DEFAULT_PLAN
    from referrals.services.tree import derive_code

    RewardPlan = apps.get_model("referrals", "RewardPlan")
    Node = apps.get_model("referrals", "Node")
    Member = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    if not RewardPlan.objects.filter(status="published").exists():
        RewardPlan.objects.create(version=1, status="published", published_at=timezone.now(), **DEFAULT_PLAN)
    ids = list(Member.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH):
        batch = ids[start:start + BATCH]
        Node.objects.bulk_create([Node(member_id=pk, invite_code=derive_code(pk)) for pk in batch],
                                 ignore_conflicts=True)
    # A code clash (40 bits: rare) left a member out: the next derivation, as ensure_nodes does.
    missing = set(ids) - set(Node.objects.values_list("member_id", flat=True))
    for pk in sorted(missing):
        for attempt in range(1, 20):
            if not Node.objects.filter(invite_code=derive_code(pk, attempt)).exists():
                Node.objects.create(member_id=pk, invite_code=derive_code(pk, attempt))
                break


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
