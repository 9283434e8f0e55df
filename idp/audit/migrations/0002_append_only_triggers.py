"""Database triggers refusing UPDATE and DELETE on the audit journal.

The model already refuses to change or delete events; these triggers refuse it to every database
client too (a raw query, a bug in another app, an injected statement). They are a guard rail, not
the proof: a database superuser can drop them, and that is what the hash chain detects.

TRUNCATE is not refused: test runners empty tables with it (PostgreSQL flush), and it needs
table-level rights that the application role should not have in production.

Both vendors raise an integrity error (PostgreSQL SQLSTATE 23001, SQLite RAISE(ABORT)), which Django
surfaces as ``django.db.IntegrityError``. The SQL is spelled out here rather than imported, so that
this migration keeps doing what it did when it was written.
"""

from django.db import migrations

FUNCTION = "audit_auditevent_append_only"

POSTGRESQL_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit journal is append-only: % refused on %', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END;
    $$
    """,
    f"""
    CREATE TRIGGER {FUNCTION} BEFORE UPDATE OR DELETE ON {{table}}
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()
    """,
]
POSTGRESQL_REMOVE = [
    f"DROP TRIGGER IF EXISTS {FUNCTION} ON {{table}}",
    f"DROP FUNCTION IF EXISTS {FUNCTION}()",
]

SQLITE_INSTALL = [
    f"""
    CREATE TRIGGER {FUNCTION}_update BEFORE UPDATE ON {{table}}
    BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only: UPDATE refused'); END
    """,
    f"""
    CREATE TRIGGER {FUNCTION}_delete BEFORE DELETE ON {{table}}
    BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only: DELETE refused'); END
    """,
]
SQLITE_REMOVE = [
    f"DROP TRIGGER IF EXISTS {FUNCTION}_update",
    f"DROP TRIGGER IF EXISTS {FUNCTION}_delete",
]

STATEMENTS = {
    "postgresql": (POSTGRESQL_INSTALL, POSTGRESQL_REMOVE),
    "sqlite": (SQLITE_INSTALL, SQLITE_REMOVE),
}


def _run(apps, schema_editor, *, install):
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        return  # other databases: the model-level refusal and the hash chain still apply
    table = schema_editor.quote_name(apps.get_model("audit", "AuditEvent")._meta.db_table)
    for statement in STATEMENTS[vendor][0 if install else 1]:
        # params=None: the PL/pgSQL body contains '%' that must not be read as placeholders.
        schema_editor.execute(statement.format(table=table), params=None)


def install(apps, schema_editor):
    _run(apps, schema_editor, install=True)


def remove(apps, schema_editor):
    _run(apps, schema_editor, install=False)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
