"""Matching figures on the labelled corpus (tests/reconcile/corpus): precision and recall of the engine's automatic
matches, and the rank of the right counterpart among `candidates.rank`'s candidates for each one-sided record that
has one (top-1, top-3, mean rank), overall, without the cases of known engine gaps, and per category; plus the time
the scoring took. Prints one JSON object and writes it to benchmarks/results/matching_corpus.json.
Must not: change the corpus or the rules to make a figure look better.

    .venv/bin/python benchmarks/matching_corpus.py [--out benchmarks/results/matching_corpus.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _bench import emit, finish, machine, note

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests" / "reconcile"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "matching_corpus.json")
    args = parser.parse_args()
    from corpus.loader import load
    from corpus.score import score

    result: dict[str, object] = {"benchmark": "matching_corpus", "machine": machine()}
    cases = load()
    note(f"scoring {len(cases)} cases")
    started = time.perf_counter()
    result.update(score(cases))
    result["seconds"] = round(time.perf_counter() - started, 3)
    finish(result)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    emit(result)


if __name__ == "__main__":
    main()
