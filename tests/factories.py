from datetime import timedelta

import factory
from django.utils import timezone

from mall.models import Member


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"member{n}")
    nickname = factory.Sequence(lambda n: f"Member {n}")
    password = factory.django.Password("pass-for-tests-1")

    class Params:
        # Joined a year ago: past the welcome offer's window (catalog.pricing), so their first
        # redemption is at list price. Without it a member joins now, a new member.
        established = factory.Trait(
            date_joined=factory.LazyFunction(lambda: timezone.now() - timedelta(days=365)))


class StaffFactory(MemberFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
