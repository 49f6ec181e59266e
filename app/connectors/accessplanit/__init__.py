"""The accessplanit connector (API v2 finance feeds): auth, client, streams, mapping.

Must not: import the xero package, storage, services or ui.
"""
