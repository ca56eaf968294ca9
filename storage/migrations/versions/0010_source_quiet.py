"""source quiet: when a source last brought something new

Revision ID: 0010_source_quiet
Revises: 0009_source_moved
Create Date: 2026-11-25 04:30:00.000000

A feed that still answers but lists nothing new for days has usually been abandoned
by its site: `newswatch sources list` and the run say so. A store from before this
revision takes each source's newest stored article as the last time it brought
something new, and its first row as the start of its watch.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_source_quiet"
down_revision = "0009_source_moved"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sources", sa.Column("last_new_at", sa.DateTime(timezone=True)))
    op.add_column("sources", sa.Column("watched_since", sa.DateTime(timezone=True)))
    op.execute(
        "UPDATE sources SET last_new_at = "
        "(SELECT max(articles.fetched_at) FROM articles WHERE articles.source_id = sources.id)"
    )
    op.execute("UPDATE sources SET watched_since = created_at WHERE last_success_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch_op:  # SQLite drops a column by rebuilding
        batch_op.drop_column("watched_since")
        batch_op.drop_column("last_new_at")
