"""The streak lottery of seed 000 ("连续签到7天抽大奖"): a member whose check-in streak reaches 7
days earns one free draw of it (catalog.services.grant_streak_draws), drawn with free draws only.
Points prizes only, so it needs no stock to run; staff edit the prizes or add product prizes."""

from django.db import migrations

NAME = "连续签到7天抽大奖"
PRIZES = [("200积分", 200, 10), ("50积分", 50, 30), ("10积分", 10, 60)]


def install(apps, schema_editor):
    Lottery = apps.get_model("catalog", "Lottery")
    Prize = apps.get_model("catalog", "Prize")
    if Lottery.objects.filter(streak_days__isnull=False).exists():
        return
    lottery = Lottery.objects.create(name=NAME, cost_points=0, tickets_only=True, streak_days=7,
                                     active=True)
    Prize.objects.bulk_create(Prize(lottery=lottery, name=name, kind="points", points=points,
                                    weight=weight) for name, points, weight in PRIZES)


def uninstall(apps, schema_editor):
    Lottery = apps.get_model("catalog", "Lottery")
    Prize = apps.get_model("catalog", "Prize")
    for lottery in Lottery.objects.filter(name=NAME, streak_days=7, draws__isnull=True):
        Prize.objects.filter(lottery=lottery).delete()
        lottery.delete()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0010_lottery_free_draws")]
    operations = [migrations.RunPython(install, uninstall)]
