"""The labelled matching corpus (tests/reconcile/corpus): no wrong automatic match, the right counterpart first
for at least 95% of the one-sided records that have one, and the recall held at the level reached."""

from __future__ import annotations

import json

from corpus.build import build
from corpus.loader import CASES, load
from corpus.score import score

# The level reached (docs/figures.md); raise it when the matching gets better, never lower it to pass.
RECALL_FLOOR = 0.778
TOP1_FLOOR = 0.95


def test_the_corpus_file_is_what_its_builder_writes() -> None:
    assert json.loads(CASES.read_text()) == json.loads(json.dumps(build()))


def test_the_corpus_covers_the_hard_cases() -> None:
    cases = load()
    assert len(cases) >= 200
    categories = {c.category for c in cases}
    for needed in ("typo_lookalike", "typo_transposed", "typo_prefix", "typo_separator", "split_payment",
                   "combined_payment", "rounding_one_cent", "rounding_vat", "midnight_utc", "month_end",
                   "currency_decoy", "duplicate_payment", "duplicate_invoice", "contact_spelling"):  # fmt: skip
        assert needed in categories, needed
    assert all(c.auto <= c.links for c in cases), "an expected automatic pair that is not a true link"


def test_automatic_matches_are_never_wrong_and_the_right_candidate_comes_first() -> None:
    figures = score()
    clean = figures["without_known_gaps"]
    assert clean["precision"] == 1.0, clean["wrong_automatic"]
    assert clean["automatic_not_as_labelled"] == []
    assert clean["recall"] >= RECALL_FLOOR
    assert clean["ranked"] >= 200
    assert clean["top1"] >= TOP1_FLOOR, clean["right_candidate_not_first"]
    assert clean["top3"] >= clean["top1"] and clean["mean_rank"] >= 1.0


def test_known_gaps_are_exactly_the_wrong_automatic_matches() -> None:
    """A known gap (an engine fault reported, not fixed here) must still be wrong; once fixed, unmark its cases."""
    every = score()["all_cases"]
    gaps = {c.id for c in load() if c.known_gap}
    assert set(every["wrong_automatic"]) == gaps
