"""Alembic environment for the newswatch store.

Migrations run through `storage.migrate.upgrade(engine)`, which hands a
connection in `config.attributes["connection"]` after taking a lock, so two
processes starting at once migrate once. Migrations are frozen snapshots:
custom types render as their plain SQLAlchemy equivalents, not as live code.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables on the metadata)
from storage.migrate import include_object, render_item


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
        render_item=render_item,
        user_module_prefix="sa.",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("newswatch migrations run online only: use `newswatch db upgrade`")
run_migrations()
