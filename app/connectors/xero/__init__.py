"""The Xero connector (Accounting API 2.0): OAuth, client, streams, mapping.

Must not: import the accessplanit package, storage, services or ui.
"""
