"""The cache's tables, declared once with SQLAlchemy Core. Alembic migrations are checked against this metadata.

Portable on purpose: only generic types (Integer, BigInteger, String, Text, Date, DateTime, Boolean), named
constraints, no SQLite-only features, so the same schema runs on PostgreSQL.
Must not: hold queries (repositories do) or import anything but sqlalchemy.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Named constraints make Alembic diffs stable and let PostgreSQL and SQLite agree on names.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

ID = 64  # remote ids: accessplanit numbers, Xero GUIDs (36)

# One row per remote record (invoice, payment, credit note), valid or not. Money in integer minor units of
# `currency`; the wire payload kept as exact JSON text in `raw`; `invalid_reason` set when it could not be read.
records = Table(
    "records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system", String(16), nullable=False),
    Column("kind", String(16), nullable=False),  # invoice | payment | credit_note | overpayment | prepayment
    Column("stream", String(40), nullable=False),
    Column("remote_id", String(ID), nullable=False),
    Column("number", String(100)),  # invoice / credit note number as the system spells it
    Column("invoice_number", String(100)),  # payments: the invoice they settle
    Column("number_key", String(100)),  # invoice_key(number or invoice_number): all records of one invoice
    Column("invoice_id", String(ID)),
    Column("contact", String(255)),
    Column("contact_id", String(ID)),
    Column("doc_date", Date),  # invoice issue date, payment date, credit note date
    Column("due_date", Date),
    Column("po_number", String(255)),
    Column("reference", String(255)),  # payments and credit notes
    Column("currency", String(3)),
    Column("net_minor", BigInteger),
    Column("tax_minor", BigInteger),
    Column("total_minor", BigInteger),
    Column("paid_minor", BigInteger),
    Column("due_minor", BigInteger),
    Column("amount_minor", BigInteger),
    Column("remaining_minor", BigInteger),
    Column("state", String(32)),  # invoice state, or the credit note's status
    Column("method", String(100)),
    Column("direction", String(16)),
    Column("credit_note_id", String(ID)),
    # Xero refunds: the number of the invoice their credit note names (its Reference, "" for none) once that credit
    # note is stored; `number_key` then follows it (records.place_refunds). NULL: placed by their own number.
    Column("placed_number", String(100)),
    Column("deleted", Boolean(create_constraint=False), nullable=False, default=False),
    Column("updated_at", DateTime),
    # The service's version of the record as it sent it (accessplanit DateUpdated, Xero UpdatedDateUTC text), so an
    # incremental sync compares versions without parsing the stored payloads.
    Column("version", String(64)),
    Column("invalid_reason", Text),
    Column("raw", Text, nullable=False),
    # Payments: the combined payment they are a part of (accessplanit Transaction id, Xero BatchPaymentID; 0014).
    Column("group_ref", String(ID)),
    # Invoices: Xero's CurrencyRate as text, shown with the item and never used to convert (0014).
    Column("currency_rate", String(32)),
    UniqueConstraint("system", "kind", "remote_id"),
    Index(None, "number_key"),
    Index(None, "credit_note_id"),
    # Invoices that may repeat each other under other numbers are found by issue date and total (migration 0009).
    Index(None, "system", "kind", "doc_date", "total_minor"),
)

record_lines = Table(
    "record_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("record_id", Integer, ForeignKey("records.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("description", Text, nullable=False),
    Column("net_minor", BigInteger, nullable=False),
    Column("tax_minor", BigInteger, nullable=False),
    # Quantities and unit prices may carry more decimals than the currency: exact decimal text, not minor units.
    Column("quantity", String(40), nullable=False),
    Column("unit_amount", String(40)),
    Column("account_code", String(40)),
    Column("tax_type", String(60)),
    Column("line_id", String(ID)),
    UniqueConstraint("record_id", "position"),
)

# Reference data (accounts, tax rates, contacts, organisation, transaction methods) as exact JSON per entry.
reference_data = Table(
    "reference_data",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system", String(16), nullable=False),
    Column("stream", String(40), nullable=False),
    Column("ref_key", String(200), nullable=False),
    Column("data", Text, nullable=False),
    UniqueConstraint("system", "stream", "ref_key"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("system", String(16), primary_key=True),
    Column("stream", String(40), primary_key=True),
    Column("cursor", Text, nullable=False),
)

# Per-system sync state: when the last complete full pull finished, and whether one is under way (so a killed
# full pull resumes from its cursors instead of starting over).
system_state = Table(
    "system_state",
    metadata,
    Column("system", String(16), primary_key=True),
    Column("last_full_at", DateTime),
    Column("full_pending", Boolean(create_constraint=False), nullable=False, default=False),
)

# The reconciliation items shown in the item list. (kind, key) is the identity: ids stay stable across syncs.
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("key", String(255), nullable=False),
    Column("status", String(20), nullable=False),
    Column("fields", Text, nullable=False),  # JSON list of differing canonical field names
    Column("invoice_key", String(100), nullable=False),
    Column("invoice", String(100), nullable=False),  # the invoice number as shown
    Column("period", String(7)),  # YYYY-MM
    Column("contact", String(255), nullable=False),
    Column("doc_date", Date),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger),
    Column("reference", String(255), nullable=False),
    Column("source_id", String(ID)),  # the source record's remote id (report key `accessplanit_id`)
    Column("ledger_id", String(ID)),  # the ledger record's remote id (report key `xero_id`)
    Column("source_record_id", Integer, ForeignKey("records.id", ondelete="SET NULL")),
    Column("ledger_record_id", Integer, ForeignKey("records.id", ondelete="SET NULL")),
    Column("invalid_record_id", Integer, ForeignKey("records.id", ondelete="SET NULL")),
    Column("note", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("search_text", Text, nullable=False),  # lower-cased key, invoice, contact, reference for search
    # Why a push of this item would break a rule of its target ("" when none was found): set by the checks before
    # sending (a preview or a push), shown as the item's `blocked` flag (migration 0007).
    Column("blocked", Text, nullable=False, server_default=""),
    # product.md section 7 (migration 0009): flags as a comma list ("" for none), the twin record's remote id of a
    # `possible_duplicate` (same system as the item's record), and the one sentence for people of the report.
    Column("flags", String(255), nullable=False, server_default=""),
    Column("twin", String(ID)),
    Column("reason", Text, nullable=False, server_default=""),
    # Ledger minus source of the first differing amount (total, net, tax, paid, due, amount), in minor units of
    # `currency`, set by reconciling; NULL when no amount differs or a side is missing (migration 0012).
    Column("difference_minor", BigInteger),
    # Raised by one whenever reconciling rewrites the row or a decision changes its status (migration 0018): a
    # decision names the version the person saw, and another is refused (team mode: no lost updates).
    Column("version", Integer, nullable=False, server_default="0"),
    UniqueConstraint("kind", "key"),
    Index(None, "period", "status"),
    Index(None, "status"),
    Index(None, "invoice_key"),
    # The item list sorts by these in the database and pages by (value, id): one index each keeps the first page
    # of any order a short index walk (migration 0004).
    Index(None, "key", "id"),
    Index(None, "contact", "id"),
    Index(None, "doc_date", "id"),
    Index(None, "amount_minor", "id"),
    Index(None, "difference_minor", "id"),  # migration 0012
    Index(None, "fields", "id"),  # migration 0012: sorting by "Differs in"
    Index(None, "flags"),  # flagged items are few: `flags > ''` and the flag filter walk only them
)

# People's decisions, append-only: the newest per (kind, key) is the active one.
decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("key", String(255), nullable=False),
    Column("resolution", String(40), nullable=False),
    Column("note", Text, nullable=False),
    Column("who", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("at", DateTime, nullable=False),
    # A manual match (resolution "match"): the two records' remote ids, and the invoice key of the ledger's record
    # (reconciled together with `key`'s). NULL for every other decision.
    Column("source_id", String(ID)),
    Column("ledger_id", String(ID)),
    Column("link_key", String(100)),
    Index(None, "kind", "key"),
)

# The outbox: a push is written here (and committed) before it is sent.
pushes = Table(
    "pushes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_kind", String(16), nullable=False),
    Column("item_key", String(255), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(16), nullable=False),
    Column("payload", Text, nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
    Column("result_remote_id", String(ID)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # One sender per row across processes: a compare-and-set claim (owner, lease) taken before a read-back or send.
    Column("claimed_by", String(100)),
    Column("lease_until", DateTime),
    # A definitive refusal by the service (validation): not retried automatically; a change or a person retries it.
    Column("refused", Boolean(create_constraint=False), nullable=False, default=False),
    Column("who", String(255)),  # who asked for the push (team mode); NULL for pushes before 0017
    UniqueConstraint("idempotency_key"),
    Index(None, "item_kind", "item_key"),
    Index(None, "state"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("who", String(255), nullable=False),
    Column("action", String(100), nullable=False),
    Column("item_kind", String(16), nullable=False),
    Column("item_key", String(255), nullable=False),
    Column("before", Text, nullable=False),
    Column("after", Text, nullable=False),
    Column("note", Text, nullable=False),
    # The hash chain (storage/audit.py): `hash` covers this row and `prev_hash`, the previous row's `hash`.
    Column("prev_hash", String(64), nullable=False, default=""),
    Column("hash", String(64), nullable=False, default=""),
    Index(None, "item_key"),
)

# The chain's head, one row (id 1), updated in the same transaction as each audit append: it catches the deletion
# of the last entries, which no successor's link can.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("count", Integer, nullable=False),
    Column("last_id", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),  # NULL: still running, or the process died
    Column("full", Boolean(create_constraint=False), nullable=False),
    Column("ok", Boolean(create_constraint=False)),
    Column("cancelled", Boolean(create_constraint=False), nullable=False, default=False),
    Column("errors", Text, nullable=False, default="[]"),
    Column("counts", Text, nullable=False, default="{}"),
    Column("budget", Text, nullable=False, default="{}"),
    Column("rules", Text),  # the matching rules the run reconciled with (digest); NULL for runs before 0002
    # What was still open when the run ended, per currency in minor units, as JSON ({"GBP": 1234}): the
    # dashboard's open value across syncs. NULL for runs before migration 0012.
    Column("open_value", Text),
    Column("who", String(255)),  # who started the run (team mode); NULL for runs before 0017
)

sync_stream_stats = Table(
    "sync_stream_stats",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("sync_runs.id", ondelete="CASCADE"), nullable=False),
    Column("system", String(16), nullable=False),
    Column("stream", String(40), nullable=False),
    Column("fetched", Integer, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("calls", Integer, nullable=False),
    Column("retries", Integer, nullable=False),
    Column("invalid", Integer, nullable=False),
    Column("error", Text, nullable=False),
    Index(None, "run_id"),
)

# Non-secret connection settings; `connection_id` (a uuid) names the keyring entry holding the secret.
connections = Table(
    "connections",
    metadata,
    Column("system", String(16), primary_key=True),
    Column("connection_id", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("username", String(255), nullable=False),
    Column("auth", String(40), nullable=False),
    Column("identity_url", Text, nullable=False),
    Column("client_id", String(255), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("tenant_name", String(255), nullable=False),
    Column("has_secret", Boolean(create_constraint=False), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Sign-offs of a period (append-only; the newest per period is the one in force): who, when, the note, whether
# open items were signed off as exceptions (`exceptions`: JSON list of {kind, key, status}), the per-currency control
# totals (JSON) and a digest of the period's items (`hash`).
signoffs = Table(
    "signoffs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("period", String(7), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("who", String(255), nullable=False),
    Column("note", Text, nullable=False),
    Column("with_exceptions", Boolean(create_constraint=False), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("totals", Text, nullable=False),
    Column("exceptions", Text, nullable=False),
    Index(None, "period"),
)

# What each item of a signed-off period held at sign-off (JSON of each side's compared values): the drift check's
# reference and the third column of the item panel.
signoff_items = Table(
    "signoff_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("signoff_id", Integer, ForeignKey("signoffs.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key", String(255), nullable=False),
    Column("status", String(20), nullable=False),
    Column("agreed", Text, nullable=False),
    Index(None, "signoff_id", "kind", "key"),
)

# Who is syncing this cache now: one row (name "sync") taken by a compare-and-set UPDATE and renewed while the sync
# runs, so two windows, the GUI and the command line, or two hosts on one PostgreSQL never sync at once. `owner` NULL:
# free; a holder that died stops blocking when `lease_until` passes (or at once on its own host, its pid gone).
sync_lock = Table(
    "sync_lock",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("owner", String(120)),
    Column("host", String(64)),
    Column("pid", Integer),
    Column("started_at", DateTime),
    Column("lease_until", DateTime),
    Column("progress", Text),  # where the holder's sync is, for people (migration 0018)
)

# Each health check of a connection (the app checks them on an interval): when, which system, the light (ok, slow,
# failed), how long it took and the message for people. Shown with the sync runs in the run log history.
health_checks = Table(
    "health_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("system", String(16), nullable=False),
    Column("level", String(8), nullable=False),
    Column("seconds", Integer, nullable=False),  # milliseconds would be noise; whole seconds, rounded up
    Column("message", Text, nullable=False),
    Index(None, "system", "id"),
)

# The people of a team database (team mode; on a solo SQLite cache, just you): `login` is who a process runs as
# (the OS user or the `team_login` setting), `name` what the audit log shows, `role` preparer / reviewer / viewer.
# Checked by the services inside every write transaction (services/team.py); inactive people change nothing.
people = Table(
    "people",
    metadata,
    Column("login", String(255), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("active", Boolean(create_constraint=False), nullable=False),
    Column("changed_by", String(255), nullable=False),
    Column("changed_at", DateTime, nullable=False),
)

# Settings that belong to the firm (scope "firm" in app/settings.py): one row per setting changed from its default,
# the value as JSON text, so everyone on a shared database matches with the same tolerances and mappings.
firm_settings = Table(
    "firm_settings",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("changed_by", String(255), nullable=False),
    Column("changed_at", DateTime, nullable=False),
)
