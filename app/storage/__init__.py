"""The local cache: SQLAlchemy 2 engine, schema, Alembic migrations and repositories returning domain objects.

Everything here takes a `Tx` from `Database.transaction()`; nothing outside this package sees SQLAlchemy.
Must not: import connectors, services, reconcile or the GUI; know about HTTP, secrets or Qt.
"""
