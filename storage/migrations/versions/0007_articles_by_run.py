"""articles by run: index the run that stored each article

Revision ID: 0007_articles_by_run
Revises: 0006_prune_story_index
Create Date: 2026-11-24 22:00:00.000000

A run's row no longer keeps the list of the articles it stored; `newswatch
export --run N` reads them from `articles` by this index instead.
"""

from __future__ import annotations

from alembic import op

revision = "0007_articles_by_run"
down_revision = "0006_prune_story_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # not in batch mode: on SQLite that may rebuild the table, and `articles` keeps its
    # full-text triggers only if it is never rebuilt
    op.create_index(op.f("ix_articles_run_id"), "articles", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_articles_run_id"), table_name="articles")
