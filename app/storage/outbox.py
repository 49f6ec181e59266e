"""Repository of the push outbox. A push is written (and committed by the caller) before it is sent; its
idempotency key is unique, so asking to add the same push twice returns the first one and nothing is posted twice.
A row is CLAIMED before it is read back or sent: `claim` is one compare-and-set UPDATE that succeeds only when the
row is unowned or its lease has expired, so two processes never drive the same row at once.

Must not: send anything, or decide the state machine (the push service does); it only records states.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from app.domain.status import Kind, PushState, System
from app.storage import jsontext
from app.storage.db import Tx
from app.storage.models import PushRecord
from app.storage.schema import items, pushes


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _record(r: Any) -> PushRecord:
    return PushRecord(
        id=r.id,
        item_kind=Kind(r.item_kind),
        item_key=r.item_key,
        action=r.action,
        target=System(r.target),
        payload=dict(jsontext.loads(r.payload)),
        idempotency_key=r.idempotency_key,
        state=PushState(r.state),
        attempts=r.attempts,
        last_error=r.last_error,
        result_remote_id=r.result_remote_id,
        created_at=r.created_at,
        updated_at=r.updated_at,
        claimed_by=r.claimed_by,
        lease_until=r.lease_until,
        refused=bool(r.refused),
    )


def add_push(
    tx: Tx,
    item_kind: Kind | str,
    item_key: str,
    action: str,
    target: System | str,
    payload: dict[str, Any],
    idempotency_key: str,
    who: str | None = None,
) -> int:
    """Record a push as `pending` (asked for by `who`); if one with this idempotency key exists, return its id
    instead (the key does not depend on who pushes: two people pushing the same write share one row)."""
    existing = tx.conn.execute(
        select(pushes.c.id).where(pushes.c.idempotency_key == idempotency_key)
    ).scalar_one_or_none()
    if existing is not None:
        return int(existing)
    now = _now()
    result = tx.conn.execute(
        insert(pushes).values(
            item_kind=str(item_kind),
            item_key=item_key,
            action=action,
            target=str(target),
            payload=jsontext.dumps(payload),
            idempotency_key=idempotency_key,
            state=PushState.PENDING.value,
            attempts=0,
            last_error="",
            result_remote_id=None,
            refused=False,
            created_at=now,
            updated_at=now,
            who=who,
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def mark_push(
    tx: Tx,
    push_id: int,
    state: PushState | str,
    *,
    error: str = "",
    result_remote_id: str | None = None,
    refused: bool = False,
) -> None:
    """Move a push to `state`. Entering `sending` counts an attempt; `error` replaces the last error; `refused`
    records whether a `failed` state is a definitive refusal by the service."""
    values: dict[str, Any] = {"state": str(state), "last_error": error, "updated_at": _now(), "refused": refused}
    if str(state) == PushState.SENDING.value:
        values["attempts"] = pushes.c.attempts + 1
    if result_remote_id is not None:
        values["result_remote_id"] = result_remote_id
    done = tx.conn.execute(update(pushes).where(pushes.c.id == push_id).values(values))
    if done.rowcount == 0:
        raise KeyError(f"no push {push_id}")


def get_push(tx: Tx, push_id: int) -> PushRecord:
    r = tx.conn.execute(select(pushes).where(pushes.c.id == push_id)).first()
    if r is None:
        raise KeyError(f"no push {push_id}")
    return _record(r)


def pushes_for(tx: Tx, kind: Kind | str, key: str) -> list[PushRecord]:
    """Every push of one item, oldest first."""
    q = select(pushes).where(pushes.c.item_kind == str(kind), pushes.c.item_key == key).order_by(pushes.c.id)
    return [_record(r) for r in tx.conn.execute(q)]


def pushes_in_state(tx: Tx, states: Iterable[PushState | str]) -> list[PushRecord]:
    q = select(pushes).where(pushes.c.state.in_([str(s) for s in states])).order_by(pushes.c.id)
    return [_record(r) for r in tx.conn.execute(q)]


def claim(tx: Tx, push_id: int, owner: str, lease_seconds: float) -> bool:
    """Take the row for `owner` until now + lease: one compare-and-set UPDATE that succeeds only when the row is
    unowned, already `owner`'s, or its lease has expired. False: another sender holds it."""
    now = _now()
    free = or_(pushes.c.claimed_by.is_(None), pushes.c.claimed_by == owner, pushes.c.lease_until < now)
    done = tx.conn.execute(
        update(pushes)
        .where(and_(pushes.c.id == push_id, free))
        .values(claimed_by=owner, lease_until=now + timedelta(seconds=lease_seconds))
    )
    return bool(done.rowcount)


def release(tx: Tx, push_ids: Iterable[int], owner: str) -> None:
    """Give rows back (only those `owner` still holds)."""
    ids = list(push_ids)
    if ids:
        tx.conn.execute(
            update(pushes)
            .where(and_(pushes.c.id.in_(ids), pushes.c.claimed_by == owner))
            .values(claimed_by=None, lease_until=None)
        )


def restart(tx: Tx, push_id: int, payload: dict[str, Any]) -> None:
    """A failed row sent again (a person retries it): the same row, back to `pending` with `payload` (its next
    `attempt`, so its wire key is new); the row's own key, which names the push, stays."""
    tx.conn.execute(
        update(pushes)
        .where(pushes.c.id == push_id)
        .values(
            payload=jsontext.dumps(payload),
            state=PushState.PENDING.value,
            refused=False,
            updated_at=_now(),
        )
    )


def linked_remote_ids(tx: Tx, target: System | str) -> set[str]:
    """Remote ids that succeeded pushes to `target` already produced (a read-back must never take one of them)."""
    q = select(pushes.c.result_remote_id).where(
        pushes.c.target == str(target), pushes.c.state == PushState.SUCCEEDED.value
    )
    return {str(r) for r in tx.conn.execute(q).scalars() if r}


def pairs(tx: Tx, kind: Kind | str, column: str) -> dict[str, str]:
    """Items the cache pairs: the id in `column` ("source_id" or "ledger_id") -> the other side's id. A read-back
    of a copy of record R must never take a record paired with something other than R."""
    own = items.c[column]
    other = items.c["ledger_id" if column == "source_id" else "source_id"]
    q = select(own, other).where(items.c.kind == str(kind), own.is_not(None), other.is_not(None))
    return {str(a): str(b) for a, b in tx.conn.execute(q)}
