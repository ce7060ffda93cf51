"""Personal data at rest (common.pii): SM4-encrypted columns with their key id, blind indexes for
phone login and the unique phone, key rotation, the migration of existing rows, and masking in
the admin and the API (unmasked only with mall.view_personal_data, every such view audited)."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.contrib.auth import authenticate
from django.contrib.auth.models import Permission
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.urls import reverse

from catalog import services as catalog_services
from catalog.models import Address
from common import pii
from mall.models import Member
from mall.services import members
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

KEY_A = "A:" + base64.b64encode(b"a" * 16).decode()
KEY_B = "B:" + base64.b64encode(b"b" * 16).decode()
HOME = {"recipient": "张三", "phone": "13800138000", "region": "上海市 浦东新区", "detail": "世纪大道100号"}


def raw(table, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE id = %s', [pk])
        return cursor.fetchone()[0]


# -- encryption -----------------------------------------------------------------------------------

def test_the_columns_hold_no_plaintext_and_the_attributes_read_it_back():
    member = MemberFactory(phone="13800138000", email="alice@example.com")
    address = catalog_services.add_address(member, **HOME)

    for column, plain in (("phone", "13800138000"), ("email", "alice@example.com")):
        stored = raw("mall_member", column, member.pk)
        assert plain not in stored and stored.startswith("dev$")
    for column, plain in HOME.items():
        assert plain not in raw("catalog_address", column, address.pk)
    fresh = Member.objects.get(pk=member.pk)
    assert (fresh.phone, fresh.email) == ("13800138000", "alice@example.com")
    assert Address.objects.values_list("recipient", "phone").get(pk=address.pk) == ("张三", "13800138000")
    assert raw("mall_member", "phone_index", member.pk) == pii.index_for(Member, "phone", "13800138000")


def test_two_encryptions_differ_and_tampering_or_moving_fails():
    one = pii.encrypt("13800138000", context="mall.member.phone")
    two = pii.encrypt("13800138000", context="mall.member.phone")
    assert one != two
    assert pii.decrypt(one, context="mall.member.phone") == "13800138000"

    key_id, body = one.split("$")
    data = bytearray(base64.b64decode(body))
    data[14] ^= 1
    with pytest.raises(pii.DecryptionError):
        pii.decrypt(f"{key_id}${base64.b64encode(bytes(data)).decode()}", context="mall.member.phone")
    with pytest.raises(pii.DecryptionError):  # the same value in another column
        pii.decrypt(one, context="catalog.address.phone")
    with pytest.raises(pii.DecryptionError):
        pii.decrypt("13800138000", context="mall.member.phone")

    member = MemberFactory(phone="13800138000")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE mall_member SET phone = %s WHERE id = %s",
                       [pii.encrypt("13900000000", context="mall.member.email"), member.pk])
    with pytest.raises(pii.DecryptionError):
        Member.objects.get(pk=member.pk)


def test_lookups_on_an_encrypted_field_are_refused_but_isnull():
    MemberFactory(phone="13800138000")
    with pytest.raises(FieldError, match="encrypted"):
        list(Member.objects.filter(phone="13800138000"))
    with pytest.raises(FieldError, match="encrypted"):
        list(Member.objects.filter(phone__icontains="138"))
    assert Member.objects.filter(phone__isnull=False).count() == 1


def test_phone_login_and_the_unique_phone_go_through_the_index(rf):
    member = MemberFactory(phone="13800138000", password="pass-for-tests-1")

    def login(username):
        return authenticate(rf.post("/login/"), username=username, password="pass-for-tests-1")

    assert login("13800138000") == member
    assert login("13800138001") is None

    with pytest.raises(members.InvalidFields) as refused:
        members.register(username="other", password="correct-horse-77", phone="13800138000")
    assert set(refused.value.fields) == {"phone"}
    # The database itself refuses the copy (the unique index column), whoever writes it.
    with pytest.raises(IntegrityError), transaction.atomic():
        MemberFactory(phone="13800138000")

    changed = members.change_phone(member, phone="13900001111")
    assert raw("mall_member", "phone_index", member.pk) == pii.index_for(Member, "phone", "13900001111")
    assert login("13900001111") == changed and login("13800138000") is None
    member.phone = None  # plain assignment, as closing an account does
    member.save(update_fields=["phone"])
    assert raw("mall_member", "phone", member.pk) is None
    assert raw("mall_member", "phone_index", member.pk) is None


def test_email_is_indexed_ignoring_case():
    member = MemberFactory(email="Alice@Example.com")
    assert Member.objects.get(email_index=pii.index_for(Member, "email", "alice@example.com")) == member


# -- rotation -------------------------------------------------------------------------------------

def _stored_key_ids():
    ids = set()
    with connection.cursor() as cursor:
        for table, columns in (("mall_member", ("phone", "email")),
                               ("catalog_address", ("recipient", "phone", "region", "detail"))):
            for column in columns:
                cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE "{column}" <> \'\'')
                ids |= {pii.key_id_of(value) for (value,) in cursor.fetchall()}
    return ids - {None}


def test_rotation_moves_every_value_to_the_current_key_and_resumes(capsys):
    with override_settings(FIELD_ENCRYPTION_KEYS=KEY_A):
        people = [MemberFactory(phone=f"1380013800{n}", email=f"m{n}@example.com") for n in range(3)]
        catalog_services.add_address(people[0], **HOME)
    assert _stored_key_ids() == {"A"}

    with override_settings(FIELD_ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}"):
        # Stopped after one batch of one row per table: some values are still under A, and
        # everything reads.
        call_command("rotate_field_key", batch_size=1, max_batches=1)
        out = capsys.readouterr().out
        assert "mall.Member: 2 re-encrypted, 2 row(s) left" in out
        assert _stored_key_ids() == {"A", "B"}
        phones = Member.objects.filter(pk__in=[p.pk for p in people]).values_list("phone", flat=True)
        assert sorted(phones) == ["13800138000", "13800138001", "13800138002"]
        call_command("rotate_field_key", batch_size=1)
        out = capsys.readouterr().out
        assert "mall.Member: 4 re-encrypted, 0 row(s) left" in out
        assert "catalog.Address: 0 re-encrypted, 0 row(s) left" in out
        assert "every value is under the current key" in out
        assert _stored_key_ids() == {"B"}

    with override_settings(FIELD_ENCRYPTION_KEYS=KEY_B):  # A is gone: everything still reads
        assert [Member.objects.get(pk=p.pk).email for p in people] == [f"m{n}@example.com" for n in range(3)]
        assert Address.objects.get(member=people[0]).detail == HOME["detail"]
        # The blind index does not depend on the encryption key: login still finds them.
        assert Member.objects.get(phone_index=pii.index_for(Member, "phone", "13800138001")) == people[1]


def test_a_run_that_fails_midway_is_completed_by_the_next(monkeypatch, capsys):
    with override_settings(FIELD_ENCRYPTION_KEYS=KEY_A):
        people = [MemberFactory(phone=f"1390013900{n}") for n in range(4)]
    real_encrypt = pii.encrypt
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed")
        return real_encrypt(*args, **kwargs)

    with override_settings(FIELD_ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}"):
        monkeypatch.setattr(pii, "encrypt", failing)
        with pytest.raises(RuntimeError):
            call_command("rotate_field_key", batch_size=2)
        monkeypatch.setattr(pii, "encrypt", real_encrypt)
        # The first batch (two rows) committed; the failed one rolled back whole.
        key_ids = sorted(pii.key_id_of(raw("mall_member", "phone", p.pk)) for p in people)
        assert key_ids == ["A", "A", "B", "B"]
        call_command("rotate_field_key", batch_size=2)
        assert "mall.Member: 2 re-encrypted, 0 row(s) left" in capsys.readouterr().out
        assert _stored_key_ids() == {"B"}


def test_the_key_list_is_validated():
    assert list(pii.parse_keys(f"{KEY_B}, {KEY_A}")) == ["B", "A"]
    for bad in ("", "nokey", "A:notbase64!", "A:" + base64.b64encode(b"short").decode(), f"{KEY_A},{KEY_A}"):
        with pytest.raises(pii.ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
            pii.parse_keys(bad)


def test_without_keys_and_debug_off_the_settings_refuse_to_load():
    env = {key: value for key, value in os.environ.items() if not key.startswith("FIELD_")}
    env.update(DEBUG="0", SECRET_KEY="x" * 50, HOOKS_SECRET="hooks", DJANGO_SETTINGS_MODULE="mall.settings")
    result = subprocess.run([sys.executable, "-c", "import mall.settings"], env=env, capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode != 0
    assert "ImproperlyConfigured: FIELD_ENCRYPTION_KEYS is not set" in result.stderr

    env.update(FIELD_ENCRYPTION_KEYS="A:" + base64.b64encode(b"short").decode())  # malformed: at start-up
    result = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS: the key of 'A' is 5 bytes; SM4 keys are 16." in result.stderr


# -- masking --------------------------------------------------------------------------------------

def test_masks():
    assert pii.mask_phone("13800138000") == "138****8000"
    assert pii.mask_phone("+8613800138000") == "+86138****8000"
    assert pii.mask_email("alice@example.com") == "a***@example.com"
    assert pii.mask_name("张三丰") == "张**"
    snapshot = "张三 13800138000\n上海市 浦东新区 世纪大道100号"
    assert pii.mask_address(snapshot) == "张* 138****8000\n上海市 浦东新区 ****"


@pytest.fixture
def customer(db):
    member = MemberFactory(username="carol", phone="13800138000", email="carol@example.com")
    catalog_services.add_address(member, **HOME)
    return member


def staff_client(client, *, unmasked: bool):
    codenames = ["view_member", "view_address"] + (["view_personal_data"] if unmasked else [])
    staff = StaffFactory()
    staff.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(staff)
    return client, staff


def accesses(staff):
    return LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=staff)


def test_admin_masks_the_list_and_the_change_page_without_the_permission(client, customer):
    client, staff = staff_client(client, unmasked=False)
    listing = client.get(reverse("admin:mall_member_changelist")).content.decode()
    assert "138****8000" in listing and "13800138000" not in listing
    page = client.get(reverse("admin:mall_member_change", args=[customer.pk])).content.decode()
    assert "138****8000" in page and "c***@example.com" in page
    assert "13800138000" not in page and "carol@example.com" not in page
    addresses = client.get(reverse("admin:catalog_address_changelist")).content.decode()
    assert "138****8000" in addresses and "13800138000" not in addresses and "世纪大道100号" not in addresses
    assert not accesses(staff).exists()


def test_the_permission_unmasks_and_every_view_is_audited(client, customer):
    client, staff = staff_client(client, unmasked=True)
    page = client.get(reverse("admin:mall_member_change", args=[customer.pk])).content.decode()
    assert "13800138000" in page and "carol@example.com" in page
    seen = accesses(staff).get()
    assert seen.object_pk == str(customer.pk)
    assert seen.additional_data["event"] == "pii.view"
    assert seen.additional_data["fields"] == ["phone", "email"]

    listing = client.get(reverse("admin:mall_member_changelist")).content.decode()
    assert "13800138000" in listing
    listed = accesses(staff).exclude(pk=seen.pk).get()
    assert str(customer.pk) in listed.additional_data["objects"]


def export_members(client):
    path = reverse("admin:mall_member_export")
    form = client.get(path).context["form"]
    data = {"format": "0", "resource": "0"}  # CSV
    data.update({name: "on" for name in form.fields if name not in ("format", "resource", "export_items")})
    response = client.post(path, data)
    assert response.status_code == 200
    return response.content.decode("utf-8-sig")


def test_the_member_export_is_masked_unless_the_permission_and_then_audited(client, customer):
    client, staff = staff_client(client, unmasked=False)
    masked = export_members(client)
    assert "138****8000" in masked and "c***@example.com" in masked
    assert "13800138000" not in masked and "carol@example.com" not in masked
    assert not accesses(staff).exists()

    staff.user_permissions.add(Permission.objects.get(codename="view_personal_data"))
    client.force_login(Member.objects.get(pk=staff.pk))  # a fresh permission cache
    full = export_members(client)
    assert "13800138000" in full and "carol@example.com" in full
    exported = accesses(staff).get()
    assert exported.additional_data["fields"] == ["email", "phone"]
    assert str(customer.pk) in exported.additional_data["objects"]


def test_admin_search_finds_a_member_by_the_exact_phone(client, customer):
    MemberFactory(username="dave", phone="13900139000")
    client, _staff = staff_client(client, unmasked=False)
    found = client.get(reverse("admin:mall_member_changelist"), {"q": "13800138000"})
    assert found.context["cl"].result_count == 1 and list(found.context["cl"].result_list) == [customer]
    by_name = client.get(reverse("admin:mall_member_changelist"), {"q": "dave"})
    assert [m.username for m in by_name.context["cl"].result_list] == ["dave"]
    addresses = client.get(reverse("admin:catalog_address_changelist"), {"q": "13800138000"})
    assert addresses.context["cl"].result_count == 1


def test_every_admin_searching_an_encrypted_field_searches_it_through_the_index():
    from django.contrib import admin
    from django.contrib.admin.utils import NotRelationField, get_fields_from_path

    from common.admin import PersonalDataAdminMixin

    for model, model_admin in admin.site._registry.items():
        for name in model_admin.search_fields:
            try:
                field = get_fields_from_path(model, name.lstrip("=^@"))[-1]
            except NotRelationField:  # a key inside a JSON field (the audit trail's event)
                continue
            if isinstance(field, pii.EncryptedFieldMixin):
                assert isinstance(model_admin, PersonalDataAdminMixin), (model, name)


def test_the_api_profile_shows_the_phone_masked_and_addresses_to_their_owner(customer):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(customer).access_token}")
    assert api.get("/api/v1/me/").json()["phone"] == "138****8000"
    [address] = api.get("/api/v1/me/addresses/").json()["results"]
    assert {name: address[name] for name in HOME} == HOME  # the owner's own, to edit and choose


# -- the migration --------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_rows_and_going_back_decrypts_them():
    from django.db.migrations.executor import MigrationExecutor

    before = [("mall", "0018_trust"), ("catalog", "0021_product_supply_db_defaults")]
    after = [("mall", "0019_pii"), ("catalog", "0022_pii")]
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        old = executor.loader.project_state(before).apps
        OldMember, OldAddress = old.get_model("mall", "Member"), old.get_model("catalog", "Address")
        alice = OldMember.objects.create(username="alice", password="!", phone="13800138000",
                                         email="Alice@Example.com")
        bob = OldMember.objects.create(username="bob", password="!")  # no phone, no e-mail
        home = OldAddress.objects.create(member_id=alice.pk, **HOME)
        assert raw("mall_member", "phone", alice.pk) == "13800138000"

        MigrationExecutor(connection).migrate(after)

        assert raw("mall_member", "phone", alice.pk).startswith("dev$")
        assert raw("catalog_address", "detail", home.pk).startswith("dev$")
        assert raw("mall_member", "phone", bob.pk) is None and raw("mall_member", "email", bob.pk) == ""
        assert raw("mall_member", "phone_index", bob.pk) is None
        member = Member.objects.get(phone_index=pii.index_for(Member, "phone", "13800138000"))
        assert (member.pk, member.phone, member.email) == (alice.pk, "13800138000", "Alice@Example.com")
        assert Member.objects.get(email_index=pii.index_for(Member, "email", "alice@example.com")) == member
        address = Address.objects.get(pk=home.pk)
        assert {name: getattr(address, name) for name in HOME} == HOME
        assert address.phone_index == pii.index_for(Address, "phone", "13800138000")
        with pytest.raises(IntegrityError), transaction.atomic():  # still unique, by the index
            Member.objects.create(username="copy", phone="13800138000")

        executor = MigrationExecutor(connection)
        executor.migrate(before)  # and back: plaintext again
        assert raw("mall_member", "phone", alice.pk) == "13800138000"
        assert raw("catalog_address", "detail", home.pk) == HOME["detail"]
    finally:
        MigrationExecutor(connection).migrate(after)


@pytest.mark.django_db(transaction=True)
def test_rotation_skips_a_row_a_request_holds_and_never_waits_for_it(capsys):
    import threading

    with override_settings(FIELD_ENCRYPTION_KEYS=KEY_A):
        busy, free = MemberFactory(phone="13800138000"), MemberFactory(phone="13800138001")
    locked, release = threading.Event(), threading.Event()

    def a_request_saving_the_member():
        try:
            with transaction.atomic():
                Member.objects.select_for_update().get(pk=busy.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    with override_settings(FIELD_ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}"):
        holder = threading.Thread(target=a_request_saving_the_member)
        holder.start()
        try:
            assert locked.wait(10)
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")  # waiting on the lock would fail the run
            call_command("rotate_field_key", batch_size=10)
            assert "mall.Member: 1 re-encrypted, 1 row(s) left" in capsys.readouterr().out
            assert pii.key_id_of(raw("mall_member", "phone", free.pk)) == "B"
            assert pii.key_id_of(raw("mall_member", "phone", busy.pk)) == "A"
        finally:
            release.set()
            holder.join(30)
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        call_command("rotate_field_key", batch_size=10)
        assert "mall.Member: 1 re-encrypted, 0 row(s) left" in capsys.readouterr().out
        assert Member.objects.get(pk=busy.pk).phone == "13800138000"
