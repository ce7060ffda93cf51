import factory

from mall.models import Member


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"member{n}")
    nickname = factory.Sequence(lambda n: f"Member {n}")
    password = factory.django.Password("pass-for-tests-1")


class StaffFactory(MemberFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
