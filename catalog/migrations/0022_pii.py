"""Personal data at rest (common.pii): saved addresses (recipient, phone, region, street) and
the redemption's shipping snapshot become SM4-encrypted text; the address's phone gets a blind
index for the admin's search. Existing rows are encrypted in batches; going back decrypts."""

import django.core.validators
from django.db import migrations

import common.pii

ADDRESS_COLUMNS = [
    ("recipient", "catalog.address.recipient", None, False),
    ("phone", "catalog.address.phone", "phone_index", False),
    ("region", "catalog.address.region", None, False),
    ("detail", "catalog.address.detail", None, False),
]
REDEMPTION_COLUMNS = [("address", "catalog.redemption.address", None, False)]


def encrypt(apps, schema_editor):
    common.pii.migrate_columns(schema_editor, "catalog_address", ADDRESS_COLUMNS, forward=True)
    common.pii.migrate_columns(schema_editor, "catalog_redemption", REDEMPTION_COLUMNS, forward=True)


def decrypt(apps, schema_editor):
    common.pii.migrate_columns(schema_editor, "catalog_address", ADDRESS_COLUMNS, forward=False)
    common.pii.migrate_columns(schema_editor, "catalog_redemption", REDEMPTION_COLUMNS, forward=False)


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0021_product_supply_db_defaults"),
    ]

    operations = [
        migrations.AddField(
            model_name="address",
            name="phone_index",
            field=common.pii.BlindIndexField(db_index=True, source="phone"),
        ),
        migrations.AlterField(
            model_name="address",
            name="detail",
            field=common.pii.EncryptedCharField(max_length=200, verbose_name="street address"),
        ),
        migrations.AlterField(
            model_name="address",
            name="phone",
            field=common.pii.EncryptedCharField(
                max_length=11,
                validators=[django.core.validators.RegexValidator(
                    "^1[3-9]\\d{9}\\Z", "Enter a mobile number such as 13800138000.", code="invalid_phone")],
                verbose_name="mobile number"),
        ),
        migrations.AlterField(
            model_name="address",
            name="recipient",
            field=common.pii.EncryptedCharField(max_length=50, verbose_name="recipient"),
        ),
        migrations.AlterField(
            model_name="address",
            name="region",
            field=common.pii.EncryptedCharField(help_text="Province, city and district.", max_length=100,
                                                verbose_name="region"),
        ),
        migrations.AlterField(
            model_name="redemption",
            name="address",
            field=common.pii.EncryptedTextField(blank=True, verbose_name="shipping address"),
        ),
        migrations.RunPython(encrypt, decrypt, elidable=False),
    ]
