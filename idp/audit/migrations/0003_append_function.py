"""PostgreSQL: a function appending a batch of events to the journal in one statement.

``idp.audit.journal`` used to append in two round trips inside the caller's transaction: the
chain lock with the head (``SELECT pg_advisory_xact_lock(k); SELECT … head``), then the INSERT
with the hashes computed in Python. ``caducee_audit_append(events jsonb)`` does the same in the
database, in one statement:

* it takes the same advisory lock (same key), then reads the head in a query of its own: a
  VOLATILE function takes a fresh snapshot for each query it runs, so under READ COMMITTED the
  head read after the lock is the one the previous writer committed (the property
  tests/audit/test_concurrency.py checks);
* it stamps the batch with the database's clock, read after the lock (sequence and time then
  grow together), written as ``chain.canonical_datetime`` writes it (UTC, microseconds);
* for each event it completes the canonical document Python prepared around the head
  (``chain.canonical_pieces``: what comes before the time, between the previous hash and the
  sequence, and after it), hashes its UTF-8 bytes with SHA-256 and inserts the row; the hashes
  are the ones ``chain.compute_hash`` gives, which is what ``audit_verify`` recomputes;
* it returns each event's sequence, time, previous hash and hash.

Called outside a transaction, the statement is its own transaction (one round trip instead of
four). The table and column names are spelled out here as they were when it was written, as in
0002; a change of the journal's fields needs a new function (journal.py checks the fields).
SQLite and other databases keep appending from Python. The database's encoding is UTF8, as
Django expects of PostgreSQL: the document is hashed as UTF-8 (``convert_to``), as Python does.
"""

from django.db import migrations

FUNCTION = "caducee_audit_append"
CHAIN_LOCK_KEY = 8_336_624_168_984_181_743

POSTGRESQL_INSTALL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}(events jsonb)
RETURNS TABLE (
    appended_sequence bigint,
    appended_at timestamptz,
    appended_prev_hash varchar,
    appended_hash varchar
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last_sequence bigint;
    last_hash varchar;
    stamp timestamptz;
    stamp_text text;
    event jsonb;
    digest varchar;
BEGIN
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK_KEY});
    SELECT a.sequence, a.hash INTO last_sequence, last_hash
        FROM {{table}} a ORDER BY a.sequence DESC LIMIT 1;
    IF NOT FOUND THEN
        last_sequence := 0;
        last_hash := repeat('0', 64);
    END IF;
    stamp := clock_timestamp();
    stamp_text := to_char(stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    FOR event IN SELECT value FROM jsonb_array_elements(events) LOOP
        last_sequence := last_sequence + 1;
        digest := encode(sha256(convert_to(
            (event->>'head') || stamp_text || '","prev_hash":"' || last_hash
                || (event->>'mid') || last_sequence::text || (event->>'tail'),
            'UTF8')), 'hex');
        INSERT INTO {{table}} (
            sequence, occurred_at, tag, actor, subject, ip, user_agent, request_id, data,
            prev_hash, hash
        ) VALUES (
            last_sequence, stamp, event->>'tag', event->>'actor', event->>'subject',
            (event->>'ip')::inet, event->>'user_agent', event->>'request_id', event->'data',
            last_hash, digest
        );
        appended_sequence := last_sequence;
        appended_at := stamp;
        appended_prev_hash := last_hash;
        appended_hash := digest;
        RETURN NEXT;
        last_hash := digest;
    END LOOP;
END;
$$
"""
POSTGRESQL_REMOVE = f"DROP FUNCTION IF EXISTS {FUNCTION}(jsonb)"


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("audit", "AuditEvent")._meta.db_table)
    # params=None: the body is sent as written, never read for placeholders.
    schema_editor.execute(POSTGRESQL_INSTALL.format(table=table), params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_REMOVE, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
