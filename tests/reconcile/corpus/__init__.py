"""The labelled matching corpus: hard cases as data (`cases.json`, written by `build.py`), read by `loader.py` and
scored by `score.py` (precision and recall of the automatic matches, rank of the right candidate)."""
