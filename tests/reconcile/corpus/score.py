"""Scores the matching on the labelled corpus: the real engine (`reconcile`) for the automatic matches, and
`candidates.rank` for every one-sided record whose right counterpart is one-sided too.

Figures: precision and recall of the automatic pairs (against every true link; a split payment has two links and
one automatic pair at most), how often the right counterpart is the first or among the first three candidates,
and its mean rank. Cases marked `known_gap` are scored apart: they show a wrong automatic match that is reported,
and the precision that must be 1.00 is the one without them.
Must not: tune anything to the corpus, or drop a case from the figures without saying so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from app.domain.keys import invoice_key
from app.domain.status import ItemStatus
from app.reconcile.candidates import rank
from app.reconcile.engine import reconcile
from app.reconcile.rules import Rules
from corpus.loader import Case, Link, load


@dataclass
class Tally:
    pairs: int = 0  # automatic pairs made
    right_pairs: int = 0  # of those, true links
    links: int = 0  # true links
    ranked: int = 0  # one-sided records whose right counterpart is one-sided too
    top1: int = 0
    top3: int = 0
    rank_sum: int = 0
    wrong: list[str] = field(default_factory=list)  # case id: a wrong automatic pair
    missed: list[str] = field(default_factory=list)  # case id: the right candidate not first
    unexpected: list[str] = field(default_factory=list)  # case id: automatic pairs other than the labelled ones

    def figures(self) -> dict[str, Any]:
        return {
            "automatic_pairs": self.pairs,
            "true_links": self.links,
            "precision": round(self.right_pairs / self.pairs, 4) if self.pairs else 1.0,
            "recall": round(self.right_pairs / self.links, 4) if self.links else 1.0,
            "ranked": self.ranked,
            "top1": round(self.top1 / self.ranked, 4) if self.ranked else 1.0,
            "top3": round(self.top3 / self.ranked, 4) if self.ranked else 1.0,
            "mean_rank": round(self.rank_sum / self.ranked, 3) if self.ranked else 1.0,
            "wrong_automatic": self.wrong,
            "right_candidate_not_first": self.missed,
            "automatic_not_as_labelled": self.unexpected,
        }


def score_case(case: Case, tally: Tally, rules: Rules) -> None:
    items = reconcile(
        source_invoices=case.source_invoices,
        ledger_invoices=case.ledger_invoices,
        source_payments=case.source_payments,
        ledger_payments=case.ledger_payments,
        invalid=[],
        rules=rules,
    )
    made: set[Link] = {
        (i.kind.value, i.source.id, i.ledger.id)
        for i in items
        if i.source is not None and i.ledger is not None and i.invalid is None
    }
    tally.pairs += len(made)
    tally.right_pairs += len(made & case.links)
    tally.links += len(case.links)
    if made - case.links:
        tally.wrong.append(case.id)
    if made != case.auto:
        tally.unexpected.append(case.id)
    source_only = [i.source for i in items if i.status is ItemStatus.ONLY_IN_SOURCE and i.source is not None]
    ledger_only = [i.ledger for i in items if i.status is ItemStatus.ONLY_IN_LEDGER and i.ledger is not None]
    contacts = {invoice_key(inv.number): inv.contact for inv in (*case.source_invoices, *case.ledger_invoices)}
    for mine, theirs, side in ((source_only, ledger_only, 2), (ledger_only, source_only, 1)):  # side: theirs
        their_ids = {r.id for r in theirs}
        for rec in mine:
            right = {link[side] for link in case.links if link[0] == rec.kind.value and link[3 - side] == rec.id}
            right &= their_ids
            if not right:
                continue
            ranked = rank(rec, theirs, rules, contacts=contacts)
            position = next(n for n, c in enumerate(ranked, 1) if c.record.id in right)
            tally.ranked += 1
            tally.top1 += position == 1
            tally.top3 += position <= 3
            tally.rank_sum += position
            if position != 1:
                tally.missed.append(case.id)


def score(cases: list[Case] | None = None, rules: Rules | None = None) -> dict[str, Any]:
    """The corpus figures: overall, without the known gaps, and per category."""
    cases = load() if cases is None else cases
    rules = rules or Rules()
    every, clean = Tally(), Tally()
    by_category: dict[str, Tally] = {}
    for case in cases:
        score_case(case, every, rules)
        if not case.known_gap:
            score_case(case, clean, rules)
        score_case(case, by_category.setdefault(case.category, Tally()), rules)
    return {
        "cases": len(cases),
        "categories": dict(Counter(c.category for c in cases)),
        "known_gaps": sorted({c.known_gap for c in cases if c.known_gap}),
        "known_gap_cases": [c.id for c in cases if c.known_gap],
        "all_cases": every.figures(),
        "without_known_gaps": clean.figures(),
        "by_category": {
            name: {k: v for k, v in t.figures().items() if not isinstance(v, list)} for name, t in by_category.items()
        },
    }
