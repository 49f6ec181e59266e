"""`item_detail.suggest`: the one action keyboard triage takes on Enter (pure over ActionSpecs)."""

from __future__ import annotations

from app.domain.status import Resolution, System
from app.services.api import ActionSpec, Match, PushField, PushRecord, Resolve
from app.services.item_detail import suggest

IGNORE = ActionSpec(Resolve(1, Resolution.IGNORE), "Ignore")
ACCEPT = ActionSpec(Resolve(1, Resolution.ACCEPT_SOURCE), "Accept")
TO_SOURCE = ActionSpec(PushField(1, "reference", System.ACCESSPLANIT), "to source", System.ACCESSPLANIT)
TO_LEDGER = ActionSpec(PushField(1, "po_number", System.XERO), "to ledger", System.XERO)
CREATE = ActionSpec(PushRecord(1, System.XERO), "create", System.XERO)


def _picked(specs: list[ActionSpec]) -> list[str]:
    return [s.label for s in specs if s.suggested]


def test_the_push_to_the_ledger_is_suggested_first() -> None:
    assert _picked(suggest([ACCEPT, TO_SOURCE, TO_LEDGER, IGNORE], ())) == ["to ledger"]
    assert _picked(suggest([CREATE, ActionSpec(Match(1, 0), "Match"), IGNORE], ())) == ["create"]
    assert _picked(suggest([ACCEPT, TO_SOURCE], ())) == ["to source"]


def test_accept_is_never_suggested_and_flags_decide() -> None:
    assert _picked(suggest([ACCEPT, IGNORE], ())) == []
    assert _picked(suggest([ACCEPT, IGNORE], ("possible_duplicate",))) == ["Ignore"]
    assert _picked(suggest([TO_LEDGER, IGNORE], ("blocked",))) == []
    assert _picked(suggest([TO_LEDGER, IGNORE], ("reopened",))) == []
