"""Runs first in the frozen app: silences fpdf2's start-up warning that Pillow is missing (the bundle leaves Pillow
out on purpose: the pack has no pictures). Must not: hide any other warning."""

import warnings

warnings.filterwarnings("ignore", message="Pillow could not be imported", category=UserWarning)
