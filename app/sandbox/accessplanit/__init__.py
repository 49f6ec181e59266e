"""The emulated accessplanit API v2 finance feeds (`AccessplanitApp`), served under `{server}/accessplan`.

Imports nothing from the rest of `app`; see docs/sandboxes.md for every behaviour and which are assumptions.
"""

from __future__ import annotations

from app.sandbox.accessplanit.app import AccessplanitApp

__all__ = ["AccessplanitApp"]
