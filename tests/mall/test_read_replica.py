"""The read replica's router without a replica (the suite's setting): every read, stale_ok or not,
goes to the primary; the real replica is in tests/faults/test_read_replica.py (make fault)."""

import pytest
from django.db import transaction

from common.db import ReplicaRouter, stale_reads
from mall.models import Member

pytestmark = pytest.mark.django_db


def test_without_a_replica_every_read_and_write_goes_to_the_primary():
    router = ReplicaRouter()
    with stale_reads():
        assert Member.objects.all().db == "default"
        with transaction.atomic():
            assert router.db_for_read(Member) == "default"
    assert router.db_for_write(Member) == "default"
    assert router.allow_migrate("default", "mall") and not router.allow_migrate("replica", "mall")
