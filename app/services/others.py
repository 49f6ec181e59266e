"""What the others did (team mode): the GUI asks every few seconds what changed in the database since its last look
(a `ChangeMark`: the newest audit entry and the newest finished sync run it has seen), and gets the items to refresh
as a `ChangeSet`, lines for people ("Dana Smith accepted Xero on INV-1001") and who is syncing now and where. What
the person did themselves (same `who`) is left out: their own window refreshed when it did it.

Polling, not LISTEN/NOTIFY: it works the same on SQLite (two windows on one file) and on PostgreSQL, costs three
indexed reads, and misses nothing when a window was asleep (everything after the mark is read back).
Must not: write anything.
"""

from __future__ import annotations

from datetime import UTC

from app.domain.status import Kind
from app.services.api import EVERYTHING, ChangeMark, ChangeSet, Others
from app.services.resolve import describe_change
from app.storage import audit as audit_repo
from app.storage import items as items_repo
from app.storage import synclog
from app.storage.db import Database

MOST = 500
"""Entries read per look; more than this since the last one and the views reload instead."""

_REKEYED = ("match", "unmatch")
"""Decisions that give items new keys (a pair becomes one item, or one item two): the views reload."""


def _syncing(holder: synclog.SyncHolder | None) -> str:
    if holder is None:
        return ""
    since = holder.started_at.replace(tzinfo=UTC).astimezone().strftime("%H:%M")
    where = f": {holder.progress}" if holder.progress else ""
    return f"{holder.who} is syncing (since {since}){where}"


def look(db: Database, mark: ChangeMark | None, me: str) -> Others:
    """What others (and this process) changed after `mark`; `me` (the person's `who`) is left out of `lines`."""
    with db.transaction(readonly=True) as tx:
        now = ChangeMark(audit_repo.last_audit_id(tx), synclog.last_finished_run_id(tx))
        syncing = _syncing(synclog.sync_holder(tx))
        if mark is None or mark == now:
            return Others(now, ChangeSet(), (), syncing)
        lines: list[str] = []
        changes = ChangeSet()
        if now.run_id > mark.run_id:
            run = synclog.last_run(tx, finished_only=True)
            if run is not None and run.who != me:  # one's own sync reloaded the views when it ended
                ended = "synced" if run.ok else "synced, with errors"
                lines.append(f"{run.who or 'Someone'} {ended}: the list was reloaded.")
                changes = EVERYTHING
        entries = [e for e in audit_repo.list_audit(tx, MOST + 1, after_id=mark.audit_id) if e.who != me]
        if len(entries) > MOST:
            return Others(now, EVERYTHING, ("Many changes by others: the list was reloaded.",), syncing)
        if entries and not changes.everything:
            changes = ChangeSet(audit=True)  # the audit log has others' new entries
        item_kinds = {k.value for k in Kind}
        for e in reversed(entries):  # oldest first
            where = f" on {e.item_key}" if e.item_kind in item_kinds else ""
            lines.append(f"{e.who} {describe_change(e.action)}{where}.")
            if changes.everything:
                continue
            if e.item_kind == "connection":
                changes = changes | ChangeSet(connections=True)
            if e.item_kind not in item_kinds:
                if e.action == "setting":
                    changes = EVERYTHING  # a tolerance or mapping re-reconciled what it affects
                continue
            found = items_repo.item_by_key(tx, e.item_kind, e.item_key)
            if e.action in _REKEYED or found is None:
                changes = EVERYTHING
                continue
            ids = frozenset(r.id for r in items_repo.items_for_invoice(tx, found.invoice_key))
            changes = changes | ChangeSet(changed=ids, counts=True)
    return Others(now, changes, tuple(lines[-5:]), syncing)
