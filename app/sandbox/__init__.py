"""Emulated accessplanit and Xero services over real HTTP on 127.0.0.1, for tests, demos and checks.

This package imports nothing from the rest of `app` (import-linter enforces it): an emulator that shared our
code would share our bugs. `start_sandboxes` (in `runner`) is the entry point the CLI calls.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SandboxOptions", "Sandboxes", "load_fixtures", "start_sandboxes"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing `app.sandbox.common` (the Xero emulator does) never drags in the runner.
    if name in __all__:
        from app.sandbox import runner

        return getattr(runner, name)
    raise AttributeError(name)
