"""Personal data at rest (common.pii): the member's phone and e-mail become SM4-encrypted text,
with blind indexes (the phone's unique: it keeps phones unique). Existing rows are encrypted in
batches under the current key of FIELD_ENCRYPTION_KEYS; going back decrypts them."""

import django.core.validators
from django.db import migrations

import common.pii

COLUMNS = [
    ("phone", "mall.member.phone", "phone_index", False),
    ("email", "mall.member.email", "email_index", True),
]


def encrypt(apps, schema_editor):
    common.pii.migrate_columns(schema_editor, "mall_member", COLUMNS, forward=True)


def decrypt(apps, schema_editor):
    common.pii.migrate_columns(schema_editor, "mall_member", COLUMNS, forward=False)


class Migration(migrations.Migration):

    dependencies = [
        ("mall", "0018_trust"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="member",
            options={"permissions": [("view_personal_data", "Can view personal data unmasked")],
                     "verbose_name": "member", "verbose_name_plural": "members"},
        ),
        migrations.AddField(
            model_name="member",
            name="email_index",
            field=common.pii.BlindIndexField(casefold=True, db_index=True, source="email"),
        ),
        migrations.AddField(
            model_name="member",
            name="phone_index",
            field=common.pii.BlindIndexField(source="phone", unique=True),
        ),
        migrations.AlterField(
            model_name="member",
            name="email",
            field=common.pii.EncryptedCharField(blank=True, max_length=254, verbose_name="email address"),
        ),
        migrations.AlterField(
            model_name="member",
            name="phone",
            field=common.pii.EncryptedCharField(
                blank=True, max_length=20, null=True,
                validators=[django.core.validators.RegexValidator(
                    "^\\+?[0-9]{6,20}$", "Enter a phone number of 6 to 20 digits.")],
                verbose_name="phone"),
        ),
        migrations.RunPython(encrypt, decrypt, elidable=False),
    ]
