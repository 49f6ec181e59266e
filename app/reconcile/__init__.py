"""Pure reconciliation: the rule table, matching, field comparison, and the engine that makes items.

Must not: do I/O of any kind, or import anything but `app.domain` and the standard library.
"""
