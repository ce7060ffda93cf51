"""Entries are append-only: the database rejects any UPDATE or DELETE of a journal row.

The trigger raises SQLSTATE 23514 (check_violation) so Django surfaces it as IntegrityError.
TRUNCATE (used only by test teardown) does not fire row triggers.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION points_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'points_entry is append-only: % of entry % refused', TG_OP, OLD.id
        USING ERRCODE = '23514';
END;
$$;
CREATE TRIGGER points_entry_append_only
    BEFORE UPDATE OR DELETE ON points_entry
    FOR EACH ROW EXECUTE FUNCTION points_entry_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS points_entry_append_only ON points_entry;
DROP FUNCTION IF EXISTS points_entry_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("points", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
