"""Candidates for a match by hand: the other side's one-sided records ranked by how likely each is the same as a
one-sided record, with a score per field and why the rules did not pair them (docs/reconciliation.md, "Candidates").

Scores are 0-100: amount (exact, within the tolerance, else by relative distance), date distance, contact
similarity (fuzzy, on case-folded names without company suffixes), reference or PO similarity, and invoice number
similarity (typos: O/0 and I/1, separators, a missing prefix, one or two wrong or swapped characters). The total is
a weighted mean; another currency or direction halves it (a person cannot match across currencies).
Must not: decide anything (the engine's rules pair; a person accepts a candidate), do I/O, or be run for every
item of a reconcile (it is for the one item a person looks at, against a few hundred records at most).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from app.domain.keys import invoice_key
from app.domain.money import fmt
from app.domain.records import Invoice, Payment
from app.reconcile.rules import Rules, money_equal, natural_id, norm_code, norm_ref

Record = Invoice | Payment

# Weights of the per-field scores in the total, per kind. An invoice is known by its number first; a payment by its
# amount and date (its invoice number is the invoice it is on, often right even when the payment is not).
INVOICE_WEIGHTS: Mapping[str, int] = {"number": 30, "amount": 30, "contact": 20, "date": 10, "reference": 10}
PAYMENT_WEIGHTS: Mapping[str, int] = {"amount": 35, "date": 20, "number": 20, "reference": 15, "contact": 10}

GOOD, FAIR = 85, 60
"""Score bands for people: at or above GOOD a likely match (green), at or above FAIR a possible one (amber)."""

NEUTRAL = 50  # a field one side does not have says nothing either way


@dataclass(frozen=True, slots=True)
class Candidate:
    """One possible counterpart: the record, its total score (0-100), the per-field scores (in weight order) and one
    sentence of why the rules did not pair them automatically."""

    record: Record
    score: int
    scores: tuple[tuple[str, int], ...]
    why_not: str


def rank(
    record: Record,
    others: Iterable[Record],
    rules: Rules | None = None,
    *,
    contacts: Mapping[str, str] | None = None,
    limit: int | None = None,
) -> list[Candidate]:
    """`others` of the same kind as `record`, best first (ties: nearer amount, nearer date, lower id).

    `contacts`: invoice key -> contact name, for payments (a payment names no contact; its invoice does)."""
    rules = rules or Rules()
    contacts = contacts or {}
    mine = _Facts.of(record, contacts)
    out = []
    for other in others:
        if other.kind is not record.kind or other is record:
            continue
        theirs = _Facts.of(other, contacts)
        weights = INVOICE_WEIGHTS if isinstance(record, Invoice) else PAYMENT_WEIGHTS
        scores = _scores(mine, theirs, rules, weights)
        total = sum(weights[name] * value for name, value in scores) / sum(weights.values())
        if mine.currency != theirs.currency or mine.direction != theirs.direction:
            total /= 2
        out.append((Candidate(other, round(total), scores, why_not(record, other, rules)), theirs))
    out.sort(key=lambda c: (-c[0].score, abs(c[1].amount - mine.amount), _days(mine.day, c[1].day), _id(c[0].record)))
    found = [c for c, _f in out]
    return found[:limit] if limit is not None else found


def band(score: int) -> str:
    """ "good", "fair" or "poor": how people are shown a score (green, amber, red)."""
    return "good" if score >= GOOD else "fair" if score >= FAIR else "poor"


@dataclass(frozen=True, slots=True)
class _Facts:
    """What is scored, read once per record."""

    number: str
    amount: Decimal
    day: date | None
    contact: str
    reference: str
    currency: str
    direction: str

    @classmethod
    def of(cls, rec: Record, contacts: Mapping[str, str]) -> _Facts:
        if isinstance(rec, Invoice):
            return cls(rec.number, rec.total, rec.issue_date, rec.contact, rec.po_number, norm_code(rec.currency), "")
        number = rec.invoice_number or ""
        contact = contacts.get(invoice_key(number), "")
        return cls(number, rec.amount, rec.date, contact, rec.reference, norm_code(rec.currency), rec.direction.value)


def _scores(a: _Facts, b: _Facts, rules: Rules, weights: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    found = {
        "number": number_score(a.number, b.number),
        "amount": amount_score(a.amount, b.amount, rules.money_tolerance),
        "date": date_score(a.day, b.day),
        "contact": contact_score(a.contact, b.contact),
        "reference": reference_score(a.reference, b.reference),
    }
    return tuple((name, found[name]) for name in weights)


def amount_score(a: Decimal, b: Decimal, tolerance: Decimal) -> int:
    """100 the same; 97 within the tolerance; else 90 falling to 0 at a tenth apart."""
    if a == b:
        return 100
    if money_equal(a, b, tolerance):
        return 97
    largest = max(abs(a), abs(b))
    relative = abs(a - b) / largest if largest else Decimal(1)
    return max(0, int((90 * (1 - 10 * relative)).to_integral_value()))


def date_score(a: date | None, b: date | None) -> int:
    """100 the same day, 8 fewer per day apart (a day either way of midnight UTC or a month-end scores 92)."""
    if a is None or b is None:
        return NEUTRAL
    return max(0, 100 - 8 * abs((a - b).days))


_SUFFIXES = re.compile(
    r"\b(ltd|limited|plc|llp|llc|inc|incorporated|corp|corporation|co|company|gmbh|pty|the)\b\.?", re.IGNORECASE
)
_PUNCT = re.compile(r"[^\w\s]")


def contact_name(name: str) -> str:
    """A contact name as compared: case-folded, punctuation and company suffixes ("Ltd", "Limited", "PLC") gone."""
    text = _PUNCT.sub(" ", (name or "").casefold().replace("&", " and "))
    return " ".join(_SUFFIXES.sub(" ", text).split())


def contact_score(a: str, b: str) -> int:
    """Fuzzy similarity of two contact names (word order ignored); 50 when one is missing."""
    na, nb = contact_name(a), contact_name(b)
    if not na or not nb:
        return NEUTRAL
    return round(fuzz.token_sort_ratio(na, nb))


_NOT_ALNUM = re.compile(r"[\W_]+")


def _ref(value: str) -> str:
    return _NOT_ALNUM.sub("", norm_ref(value))


def reference_score(a: str, b: str) -> int:
    """Similarity of two payment references or PO numbers (case, spaces and punctuation ignored); 50 when one is
    missing."""
    ra, rb = _ref(a), _ref(b)
    if not ra or not rb:
        return NEUTRAL
    return round(fuzz.ratio(ra, rb))


_LOOKALIKE = str.maketrans({"O": "0", "I": "1", "L": "1", "S": "5", "B": "8"})
_DIGITS = re.compile(r"\d+")


def _plain(number: str) -> str:
    """An invoice number without case, separators or look-alike letters: "inv 1O01" -> "1NV1001"."""
    return _NOT_ALNUM.sub("", invoice_key(number)).translate(_LOOKALIKE)


def number_score(a: str, b: str) -> int:
    """How alike two invoice numbers are: 100 the same key; 95 the same but for separators or look-alike letters
    (O/0, I/1); 90 the same digits (a missing or other prefix); else 100 less 25 per edit (a swap of two neighbouring
    characters is one edit), 0 when they share nothing."""
    ka, kb = invoice_key(a), invoice_key(b)
    if not ka or not kb:
        return NEUTRAL
    if ka == kb:
        return 100
    pa, pb = _plain(a), _plain(b)
    if pa == pb:
        return 95
    da, db = "".join(_DIGITS.findall(ka)), "".join(_DIGITS.findall(kb))
    if da and da == db:
        return 90
    return max(0, 100 - 25 * OSA.distance(pa, pb))


def why_not(record: Record, other: Record, rules: Rules) -> str:
    """Why the rules did not pair these two: "number differs: INV-1O01 vs INV-1001", "on another invoice: INV-2 vs
    INV-1; date 3 days apart", "amount differs by 0.02"."""
    parts: list[str] = []
    if norm_code(record.currency) != norm_code(other.currency):
        parts.append(f"currency differs: {record.currency or 'none'} vs {other.currency or 'none'}")
    if isinstance(record, Invoice) and isinstance(other, Invoice):
        if invoice_key(record.number) != invoice_key(other.number):
            parts.append(f"number differs: {record.number or 'none'} vs {other.number or 'none'}")
        else:
            parts.append("same number, but one of them is set aside (a duplicate number)")
        if not parts[0].startswith("currency") and not money_equal(record.total, other.total, rules.money_tolerance):
            parts.append(f"total differs by {fmt(abs(record.total - other.total), record.currency)}")
        return "; ".join(parts)
    assert isinstance(record, Payment) and isinstance(other, Payment)
    same_currency = not parts
    if invoice_key(record.invoice_number) != invoice_key(other.invoice_number):
        parts.append(f"on another invoice: {record.invoice_number or 'none'} vs {other.invoice_number or 'none'}")
    if record.direction is not other.direction:
        parts.append(f"a {record.direction.value} against a {other.direction.value}")
    if same_currency and not money_equal(record.amount, other.amount, rules.money_tolerance):
        parts.append(f"amount differs by {fmt(abs(record.amount - other.amount), record.currency)}")
    if record.date != other.date:
        days = abs((record.date - other.date).days)
        parts.append(f"date {days} day{'' if days == 1 else 's'} apart")
    if norm_ref(record.reference) != norm_ref(other.reference):
        parts.append(f"reference differs: '{record.reference}' vs '{other.reference}'")
    if not parts:
        return "the rules paired each with another payment first"
    return "; ".join(parts)


def _days(a: date | None, b: date | None) -> int:
    return abs((a - b).days) if a is not None and b is not None else 10_000


def _id(rec: Record) -> tuple[int, int, str]:
    return natural_id(rec.id)
