"""Export of members (django-import-export), CSV and XLSX, from the admin's filtered list: the
phone and e-mail masked unless the exporter holds ``mall.view_personal_data`` (then the export
is an ACCESS audit record, ``common.admin.PersonalDataExportMixin``). Export only: members are
written by ``mall.services.members``."""

from __future__ import annotations

from import_export import resources

from common import pii
from common.admin import PersonalDataResourceMixin
from mall.models import Member

EXPORT_FIELDS = ("id", "username", "nickname", "phone", "email", "tier", "external_id", "date_joined")


class MemberResource(PersonalDataResourceMixin, resources.ModelResource):
    pii_fields = {"phone": pii.mask_phone, "email": pii.mask_email}

    class Meta:
        model = Member
        fields = EXPORT_FIELDS
        export_order = EXPORT_FIELDS
