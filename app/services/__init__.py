"""Use cases: sync, reconcile, push (outbox), retry, resolve, audit, report, connections.

Must not: import PySide6 or app.ui. Everything here is callable from the command line and from tests.
"""
