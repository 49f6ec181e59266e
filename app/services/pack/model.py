"""The month-end pack's data: ONE model of a period (the report's items and totals, sign-off, decisions, audit
extract, unreadable records) that every writer (xlsx, pdf, csv) reads, and what the writers share: column titles in
words, status and flag labels, and `neutralise` against formula injection.

Amounts stay strings with the currency's decimals here; a writer turns them into numbers (xlsx) or keeps them (csv,
pdf). Money is never summed across currencies: `matched_summary` sums per (kind, currency).
Must not: read the database, format for one file type, or hold secrets (the report has no connection data).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app.domain.money import fmt
from app.domain.status import ItemStatus, Role, System, system_for
from app.reconcile.rules import INVOICE_FIELDS, PAYMENT_FIELDS

_SOURCE, _LEDGER = system_for(Role.SOURCE).label, system_for(Role.LEDGER).label

STATUS_LABELS: dict[str, str] = {
    ItemStatus.DIFFERS: "Differs",
    ItemStatus.ONLY_IN_SOURCE: f"Only in {_SOURCE}",
    ItemStatus.ONLY_IN_LEDGER: f"Only in {_LEDGER}",
    ItemStatus.INVALID: "Unreadable",
    ItemStatus.RESOLVED: "Resolved",
    ItemStatus.MATCHED: "Matched",
}
FIELD_LABELS = {f.name: f.label for f in INVOICE_FIELDS} | {f.name: f.label for f in PAYMENT_FIELDS}
FLAG_LABELS = {"possible_duplicate": "Possible duplicate", "reopened": "Reopened", "blocked": "Blocked"}
PUSH_LABELS = {"pending": "Pending", "sending": "Sending", "succeeded": "Pushed", "failed": "Push failed"}
DECISION_LABELS = {
    "accept_accessplanit": f"Accepted {_SOURCE}",
    "accept_xero": f"Accepted {_LEDGER}",
    "ignore": "Ignored",
    "reopen": "Reopened",
    "match": "Matched by hand",
    "unmatch": "Unmatched",
}
# Exceptions come grouped in this order; a matched item is an exception only when it carries a flag.
GROUP_ORDER = (
    ItemStatus.DIFFERS,
    ItemStatus.ONLY_IN_SOURCE,
    ItemStatus.ONLY_IN_LEDGER,
    ItemStatus.INVALID,
    ItemStatus.RESOLVED,
    ItemStatus.MATCHED,
)

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """A text cell that no spreadsheet will run: a leading `=`, `+`, `-`, `@`, tab or carriage return gets a `'`
    in front (OWASP's advice for CSV injection)."""
    return "'" + text if text.startswith(_DANGEROUS) else text


def label(table: dict[str, str], value: str | None) -> str:
    if not value:
        return ""
    return table.get(value, value.replace("_", " ").capitalize())


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the item tables: title in words, the value of an item, and its type for typed writers
    (`text`, `date`: ISO text, `amount`: decimal text with the item's currency)."""

    title: str
    get: Callable[[dict[str, Any]], str | None]
    kind: str = "text"
    width: int = 14  # characters, for xlsx


def _join(table: dict[str, str], values: Iterable[str] | None) -> str:
    return ", ".join(label(table, v) for v in values or ())


def item_columns(decision: Callable[[dict[str, Any]], str]) -> tuple[Column, ...]:
    """The item columns of the csv, the workbook's item sheets and (some of them) the pdf."""
    return (
        Column("Kind", lambda i: str(i["kind"]).capitalize(), width=9),
        Column("Key", lambda i: i["key"], width=26),
        Column("Status", lambda i: label(STATUS_LABELS, i["status"]), width=18),
        Column("Flags", lambda i: _join(FLAG_LABELS, i.get("flags")), width=16),
        Column("Fields that differ", lambda i: _join(FIELD_LABELS, i.get("fields")), width=18),
        Column("First field that differs", lambda i: i.get("field"), width=16),
        Column(f"{_SOURCE} value", lambda i: i.get("source_value"), width=18),
        Column(f"{_LEDGER} value", lambda i: i.get("ledger_value"), width=18),
        Column("Invoice", lambda i: i.get("invoice"), width=14),
        Column("Contact", lambda i: i.get("contact"), width=28),
        Column("Date", lambda i: i.get("date"), "date", width=12),
        Column("Amount", lambda i: i.get("amount"), "amount", width=16),
        Column("Currency", lambda i: i.get("currency"), width=9),
        Column(f"Difference ({_LEDGER} minus {_SOURCE})", lambda i: i.get("difference"), "amount", width=16),
        Column(f"{_SOURCE} id", lambda i: i.get("accessplanit_id"), width=14),
        Column(f"{_LEDGER} id", lambda i: i.get("xero_id"), width=38),
        Column("Push", lambda i: label(PUSH_LABELS, i.get("push")), width=12),
        Column("Decision", decision, width=22),
        Column("Note", lambda i: i.get("note"), width=30),
        Column("Reason", lambda i: i.get("reason"), width=60),
    )


@dataclass(frozen=True, slots=True)
class TotalsRow:
    system: str  # label
    currency: str
    invoices: int | None
    total: str | None
    paid: str | None
    due: str | None


@dataclass(frozen=True, slots=True)
class PackData:
    """Everything one month-end pack shows. `items` and `totals` are the report's (product.md sections 5 and 8);
    `decisions` are the standing decisions on the period's items and `audit` the audit log's entries on them
    (dicts with `at` datetimes); `signoff` is the report's, None when the period is not signed off."""

    period: str | None
    preparer: str
    generated_at: datetime
    items: list[dict[str, Any]]
    totals: dict[str, Any]
    signoff: dict[str, Any] | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    all_items: bool = False

    @property
    def period_text(self) -> str:
        return self.period or "all periods"

    def decision_text(self) -> Callable[[dict[str, Any]], str]:
        """A function giving the standing decision on an item in words, with who took it and when."""
        by_key = {(d["kind"], d["key"]): d for d in self.decisions}

        def decision(item: dict[str, Any]) -> str:
            d = by_key.get((str(item["kind"]), str(item["key"])))
            if d is None:
                return ""
            return f"{label(DECISION_LABELS, d['decision'])} by {d['who']} on {d['at']:%Y-%m-%d}"

        return decision

    def columns(self) -> tuple[Column, ...]:
        return item_columns(self.decision_text())

    def exception_groups(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(title, items) per kind of exception in GROUP_ORDER: every item not matched, and matched ones with a
        flag. Unreadable records without a period are not items (they are in `unreadable`)."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for item in self.items:
            if item["status"] == ItemStatus.MATCHED and not item.get("flags"):
                continue
            groups.setdefault(str(item["status"]), []).append(item)
        out = []
        for status in GROUP_ORDER:
            if status in groups:
                title = STATUS_LABELS[status] + (", flagged" if status == ItemStatus.MATCHED else "")
                out.append((title, groups.pop(status)))
        out.extend((label(STATUS_LABELS, s), rows) for s, rows in groups.items())
        return out

    def exceptions(self) -> list[dict[str, Any]]:
        return [i for _, rows in self.exception_groups() for i in rows]

    def totals_rows(self) -> list[TotalsRow]:
        """Control totals per system and currency (the report's `by_currency`; `due` is total minus paid when the
        report does not give it)."""
        rows = []
        for system, t in self.totals.items():
            name = System(system).label if system in System._value2member_map_ else system
            by_currency = t.get("by_currency") or {}
            for code in sorted(by_currency):
                c = by_currency[code]
                due = c.get("due")
                if due is None and c.get("total") is not None and c.get("paid") is not None:
                    due = fmt(Decimal(c["total"]) - Decimal(c["paid"]), code)
                invoices = c.get("invoices", t.get("invoices") if len(by_currency) == 1 else None)
                count = int(invoices) if invoices is not None else None  # the report's counts are strings
                rows.append(TotalsRow(name, code, count, c.get("total"), c.get("paid"), due))
            if not by_currency:
                rows.append(TotalsRow(name, "", int(t.get("invoices", 0)), None, None, None))
        return rows

    def counts(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[str(item["status"])] = counts.get(str(item["status"]), 0) + 1
        order = [ItemStatus.MATCHED, *(s for s in GROUP_ORDER if s is not ItemStatus.MATCHED)]
        return [(STATUS_LABELS[s], counts[s]) for s in order if s in counts]

    def matched_summary(self) -> list[tuple[str, str, int, str]]:
        """(kind, currency, count, total) of the matched items, summed per kind and currency."""
        sums: dict[tuple[str, str], tuple[int, Decimal]] = {}
        for item in self.items:
            if item["status"] != ItemStatus.MATCHED:
                continue
            key = (str(item["kind"]), item.get("currency") or "")
            n, total = sums.get(key, (0, Decimal(0)))
            sums[key] = (n + 1, total + Decimal(item["amount"] or 0))
        return [(k.capitalize() + "s", c, n, fmt(t, c or None)) for (k, c), (n, t) in sorted(sums.items())]

    def matched(self) -> list[dict[str, Any]]:
        return [i for i in self.items if i["status"] == ItemStatus.MATCHED]


def pack_from_report(
    report: dict[str, Any],
    *,
    preparer: str = "",
    generated_at: datetime | None = None,
    decisions: list[dict[str, Any]] | None = None,
    audit: list[dict[str, Any]] | None = None,
    all_items: bool = False,
) -> PackData:
    """The pack's model over a report dict (product.md sections 5 and 8). Until the report lists unreadable
    records apart (`unreadable`), an invalid item without a date is taken out of the items into that section."""
    items = list(report.get("items") or [])
    unreadable = report.get("unreadable")
    if unreadable is None:
        unreadable = [i for i in items if i["status"] == ItemStatus.INVALID and not i.get("date")]
        items = [i for i in items if not (i["status"] == ItemStatus.INVALID and not i.get("date"))]
    return PackData(
        period=report.get("period"),
        preparer=preparer,
        generated_at=generated_at or datetime.now().astimezone(),
        items=items,
        totals=report.get("totals") or {},
        signoff=report.get("signoff"),
        decisions=decisions or [],
        audit=audit or [],
        unreadable=list(unreadable),
        all_items=all_items,
    )


def parse_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
