"""article categories and tags

Revision ID: 0004_categories
Revises: 0003_source_state
Create Date: 2026-11-23 23:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_categories"
down_revision = "0003_source_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # add_column, not batch: a batch rebuild of `articles` on SQLite would drop the FTS triggers
    op.add_column(
        "articles",
        sa.Column("categories", sa.JSON(), nullable=False, server_default="[]"),
    )


def downgrade() -> None:
    op.drop_column("articles", "categories")  # SQLite >= 3.35 drops a column in place
