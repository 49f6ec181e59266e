"""The connectors' typed cursors: each stored as the JSON of docs/connectors.md and read back to the same cursor;
a finished cursor starts an incremental run from its watermark minus the overlap."""

from __future__ import annotations

import json
from datetime import timedelta

from app.connectors.accessplanit import streams as ap
from app.connectors.xero import streams as xero


def test_cursors_round_trip_through_their_stored_json() -> None:
    for cursor in (
        ap.KeysetCursor(after="2026-10-14T09:00:00", skip=3, last_id="5531", watermark="2026-10-14T09:00:00"),
        ap.KeysetCursor(incremental=True, done=True),
        ap.IdCursor(after_id="5531", last_id="5531", watermark="2026-10-14T09:00:00"),
        xero.PageCursor(since="2026-10-14T08:55:00", page=3, watermark="2026-10-14T09:12:31"),
    ):
        stored = json.loads(json.dumps(cursor.to_json()))  # as the cache keeps it
        assert type(cursor).from_json(stored) == cursor
    assert ap.IdCursor().to_json()["by"] == "ID" and ap.KeysetCursor().to_json()["v"] == 1
    assert "total" not in ap.KeysetCursor().to_json()  # progress is not position


def test_a_finished_cursor_starts_an_incremental_run_and_an_unfinished_one_resumes() -> None:
    five = timedelta(minutes=5)
    done = ap.KeysetCursor(after="x", skip=9, watermark="2026-10-14T09:00:00", done=True).to_json()
    assert ap.start_cursor(done, full=False, overlap=five) == ap.KeysetCursor(
        after="2026-10-14T08:55:00", watermark="2026-10-14T09:00:00", incremental=True
    )
    half = ap.KeysetCursor(after="2026-10-14T09:00:00", skip=2).to_json()
    assert ap.start_cursor(half, full=False, overlap=five) == ap.KeysetCursor.from_json(half)
    assert ap.start_cursor(half, full=True, overlap=five) == ap.KeysetCursor()
    finished = xero.PageCursor(page=4, watermark="2026-10-14T09:12:31", done=True).to_json()
    assert xero.start_cursor(finished, full=False, overlap=five) == xero.PageCursor(
        since="2026-10-14T09:07:31", watermark="2026-10-14T09:12:31"
    )
    assert xero.start_cursor(None, full=False, overlap=five) == xero.PageCursor()
