"""The emulated Xero (identity + Accounting API) for tests, demos and checks: `XeroApp`, served with
`app.sandbox.common.serve`. Imports nothing from the rest of `app`.
"""

from __future__ import annotations

from .app import XeroApp

__all__ = ["XeroApp"]
