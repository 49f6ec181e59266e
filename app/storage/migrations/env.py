"""Alembic environment: migrates the connection handed over by `app.storage.migrate.upgrade` (or a URL given with
`-x url=...` for `alembic revision --autogenerate` during development).

Must not: configure logging from a file, or read an alembic.ini.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from app.storage.schema import metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode makes later migrations portable
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database URL: alembic -x url=sqlite:///dev.sqlite3 ...")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
