"""The deterministic month generator: both systems' wire records for one month, and the expected reconciliation.

`generate(seed, invoices, month)` makes accessplanit records and Xero response envelopes that contain every kind of
difference the product meets, at sensible rates, and `expected`, the report items (product.md section 5) the app
must produce, computed by the oracle from the wire records it made, not copied from the scenario it intended.
Same arguments, same bytes.

Modules: `scenarios` (which cases a month holds, how many, and each invoice's plan; all the randomness),
`accessplanit` and `xero` (each service's wire output of a plan), `oracle` (docs/reconciliation.md applied to wire
records: the test oracle), `month` (`generate` and `Dataset`), `files` (fixture files) and `cli`
(`python -m app.sandbox.generator`). This package is the public surface: import from here.

It is the test oracle, so nothing in it imports from `app` outside `app/sandbox` (import-linter forbids it), and the
oracle imports nothing but the standard library. No float for money, no per-record deep copies, no quadratic work
(it scales to a million invoices). Records may share immutable values (Decimals, date strings) and small nested
dicts: consumers must copy a record before changing it.
"""

from app.sandbox.generator.cli import main
from app.sandbox.generator.files import load_fixtures, write_expected, write_fixtures
from app.sandbox.generator.month import Dataset, generate
from app.sandbox.generator.oracle import METHOD_ACCOUNTS, MONEY_TOLERANCE, expected_items
from app.sandbox.generator.scenarios import SCENARIO_NAMES, SCENARIOS

__all__ = [
    "METHOD_ACCOUNTS",
    "MONEY_TOLERANCE",
    "SCENARIOS",
    "SCENARIO_NAMES",
    "Dataset",
    "expected_items",
    "generate",
    "load_fixtures",
    "main",
    "write_expected",
    "write_fixtures",
]
