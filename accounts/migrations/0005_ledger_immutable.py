"""The ledger is append-only in the database too (as django-hordak does): on PostgreSQL a trigger
refuses every UPDATE and DELETE of accounts_transaction, whoever issues it. SQLite keeps the ORM-level
guard (Transaction.save/delete). TRUNCATE (how test runs flush) is not UPDATE/DELETE and stays allowed."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION accounts_transaction_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are immutable: % on accounts_transaction refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS accounts_transaction_immutable ON accounts_transaction;
CREATE TRIGGER accounts_transaction_immutable
    BEFORE UPDATE OR DELETE ON accounts_transaction
    FOR EACH ROW EXECUTE FUNCTION accounts_transaction_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS accounts_transaction_immutable ON accounts_transaction;
DROP FUNCTION IF EXISTS accounts_transaction_immutable();
"""


def _run(sql: str):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return apply


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_auth_token_digests")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False)]
