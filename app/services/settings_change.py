"""Use case: show and change settings. A change is validated against the settings' declaration, saved, audited (who,
old -> new per setting) and re-reconciles at once, without a sync, only the items it can affect:

| what changed | items redone (their invoice keys) |
|---|---|
| amount tolerance or percent, wider | invoices differing in an amount, lines or state; payments differing in |
| | anything; one-sided payments; (absolute only) invoices whose Xero due is within the new tolerance, or that |
| | carry a Xero refund (their state is derived with the tolerance) |
| amount tolerance or percent, tighter | everything (a matched pair keeps no trace of a difference within the old |
| | tolerance) |
| payment date window | payments differing in anything; one-sided payments |
| duplicate window | one-sided payments (only those can be flagged) |
| contact normalisation | invoices whose two contacts are not the same text |
| payment method accounts | paired payments whose accessplanit method's account changed |
| anything else (mappings for pushes, pacing, your name) | nothing |

Must not: talk to the network, import Qt, or compare records itself (reconciling does).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.domain.progress import CancelToken, ProgressCallback
from app.domain.status import Kind, Role, system_for
from app.services.api import ChangeSet, SettingChoice, SettingsView, SettingValue
from app.services.reconciling import reconcile_in, rules_digest
from app.settings import GROUPS, META, SETTINGS, SettingError, Settings, format_value, parse_value
from app.storage import audit as audit_repo
from app.storage import items as item_repo
from app.storage import records as record_repo
from app.storage import synclog
from app.storage.db import Database, Tx

AUDIT_ACTION = "setting"
"""The audit log's action for a settings change (item kind "setting", item key the setting's name)."""

MONEY_FIELDS = ("net", "tax", "total", "paid", "due", "amount", "lines", "state")
"""The fields an amount tolerance decides (`state` through `derive_state`'s due-is-zero test)."""
_ANY_PAYMENT_FIELD = ("date", "amount", "reference", "method")


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """What `apply_changes` did: the settings now, the names changed, the invoice keys redone (None: all), items
    redone and those whose status changed, and the time the re-reconcile took."""

    settings: Settings
    changed: tuple[str, ...]
    keys: int | None
    items: int
    status_changed: int
    seconds: float
    changes: ChangeSet


def view(db: Database, settings: Settings) -> SettingsView:
    """Every declared setting with its value as text and, for mappings to Xero, the accounts and tax types cached
    by the last sync (code and name; active ones only)."""
    ledger = system_for(Role.LEDGER)
    with db.transaction() as tx:
        accounts = record_repo.reference_data(tx, ledger, "accounts")
        tax_rates = record_repo.reference_data(tx, ledger, "tax_rates")
    options = {
        "accounts": _choices(accounts, "Code", "Name"),
        "tax_types": _choices(tax_rates, "TaxType", "Name"),
    }
    values = []
    for meta in SETTINGS:
        value = getattr(settings, meta.name)
        values.append(
            SettingValue(
                name=meta.name,
                label=meta.label,
                help=meta.help,
                group=meta.group,
                scope=meta.scope,
                kind=meta.kind,
                value=format_value(meta.name, value),
                default=format_value(meta.name, meta.default),
                affects=meta.affects,
                minimum="" if meta.minimum is None else str(meta.minimum),
                maximum="" if meta.maximum is None else str(meta.maximum),
                mapping=tuple(value.items()) if isinstance(value, dict) else (),
                choices=options.get(meta.choices, ()),
                choices_from=meta.choices,
            )
        )
    return SettingsView(tuple(values), GROUPS, bool(options["accounts"] or options["tax_types"]))


def _choices(entries: list[dict[str, Any]], code_key: str, name_key: str) -> tuple[SettingChoice, ...]:
    out: dict[str, SettingChoice] = {}
    for e in entries:
        code = str(e.get(code_key) or "").strip()
        if code and str(e.get("Status", "ACTIVE")).upper() == "ACTIVE":
            out[code] = SettingChoice(code, f"{code} {str(e.get(name_key) or '').strip()}".strip())
    return tuple(sorted(out.values(), key=lambda c: c.code))


def parse_changes(settings: Settings, changes: Mapping[str, object]) -> Settings:
    """The settings with `changes` applied, each value parsed and checked; raises `SettingError` naming the first
    bad one ("money_tolerance: must be at least 0")."""
    parsed: dict[str, Any] = {}
    for name, raw in changes.items():
        try:
            parsed[name] = parse_value(name, raw)
        except SettingError as exc:
            if name not in META:
                raise
            raise SettingError(f"{META[name].label} ({name}): {exc}") from None
    return dataclasses.replace(settings, **parsed)


def affected_keys(tx: Tx, old: Settings, new: Settings) -> set[str] | None:
    """The invoice keys whose items the change from `old` to `new` can alter (the module's table); None: all."""
    keys: set[str] = set()
    for meta in SETTINGS:
        before, after = getattr(old, meta.name), getattr(new, meta.name)
        if before == after or not meta.affects:
            continue
        if meta.name in ("money_tolerance", "money_tolerance_percent"):
            if after < before:
                return None
            keys |= item_repo.affected_invoice_keys(tx, fields=MONEY_FIELDS, kind=Kind.INVOICE)
            if meta.name == "money_tolerance":  # a matched invoice's state, when what is due falls within it
                keys |= item_repo.invoice_keys_due_within(tx, math.ceil(after * 1000))
                keys |= item_repo.credit_note_invoice_keys(tx)  # "used up" is what remains, within the tolerance
            keys |= item_repo.affected_invoice_keys(
                tx, fields=_ANY_PAYMENT_FIELD, kind=Kind.PAYMENT, one_sided_payments=True
            )
        elif meta.name == "payment_date_window_days":
            keys |= item_repo.affected_invoice_keys(
                tx, fields=_ANY_PAYMENT_FIELD, kind=Kind.PAYMENT, one_sided_payments=True
            )
        elif meta.name == "duplicate_window_days":
            keys |= item_repo.affected_invoice_keys(tx, one_sided_payments=True)
        elif meta.name == "contact_ignore_suffixes":
            keys |= item_repo.affected_invoice_keys(tx, contacts_differ=True)
        elif meta.name == "method_accounts":
            labels = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
            keys |= item_repo.affected_invoice_keys(tx, source_methods=labels)
        else:  # a setting declared to affect items with no rule here: redo everything rather than miss some
            return None
    return keys


def apply_changes(
    db: Database,
    settings: Settings,
    changes: Mapping[str, object],
    who: str,
    save: Callable[[Settings], None] | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    store: Callable[[Tx, Settings, tuple[str, ...]], None] | None = None,
) -> SettingsChange:
    """Parse `changes`, save the new settings (`save`), and in one transaction audit each changed setting, `store`
    them (the firm's, in the database) and re-reconcile the affected items. Raises `SettingError` (nothing changed)
    for a bad value; when the transaction fails or is cancelled the old settings are saved back."""
    new = parse_changes(settings, changes)
    changed = tuple(m.name for m in SETTINGS if getattr(settings, m.name) != getattr(new, m.name))
    if not changed:
        return SettingsChange(settings, (), 0, 0, 0, 0.0, ChangeSet())
    if save is not None:
        save(new)
    started = time.perf_counter()
    try:
        with db.transaction() as tx:
            for name in changed:
                audit_repo.append_audit(
                    tx,
                    who,
                    AUDIT_ACTION,
                    AUDIT_ACTION,
                    name,
                    {name: format_value(name, getattr(settings, name))},
                    {name: format_value(name, getattr(new, name))},
                )
            if store is not None:
                store(tx, new, changed)
            keys = affected_keys(tx, settings, new)
            if keys is None:
                before = _all_statuses(tx)
                reconcile_in(tx, new, None, progress=progress, cancel=cancel)
                after = _all_statuses(tx)
            elif keys:
                before = item_repo.statuses_on_keys(tx, keys)
                reconcile_in(tx, new, keys, progress=progress, cancel=cancel)
                after = item_repo.statuses_on_keys(tx, keys)
            else:
                before = after = {}
            # The items now are what the new rules give: a sync need not redo every key for the change.
            synclog.restamp_rules(tx, rules_digest(settings), rules_digest(new))
    except BaseException:
        if save is not None:
            save(settings)
        raise
    moved = sum(1 for i, st in after.items() if before.get(i) != st)
    if keys is None:
        cs = ChangeSet(everything=True, audit=True)
    else:
        cs = ChangeSet(
            changed=frozenset(before.keys() & after.keys()),
            added=frozenset(after.keys() - before.keys()),
            removed=frozenset(before.keys() - after.keys()),
            counts=bool(keys),
            periods=bool(keys),
            audit=True,
        )
    seconds = time.perf_counter() - started
    return SettingsChange(new, changed, None if keys is None else len(keys), len(after), moved, seconds, cs)


def _all_statuses(tx: Tx) -> dict[int, str]:
    return item_repo.statuses_on_keys(tx, item_repo.item_invoice_keys(tx))


def describe(result: SettingsChange, old: Settings) -> str:
    """One line for people: what changed, and what was re-reconciled."""
    if not result.changed:
        return "No setting changed."
    parts = [
        f"{META[n].label}: {format_value(n, getattr(old, n)) or '(empty)'} -> "
        f"{format_value(n, getattr(result.settings, n)) or '(empty)'}"
        for n in result.changed
    ]
    if result.keys == 0:
        tail = "nothing to re-reconcile"
    else:
        scope = "all invoices" if result.keys is None else f"{result.keys} invoice(s)"
        tail = f"re-reconciled {result.items} item(s) of {scope}, {result.status_changed} changed status"
    return "; ".join(parts) + f" ({tail})."
