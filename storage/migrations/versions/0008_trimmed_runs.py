"""trimmed runs: when a run's row lost its details to retention

Revision ID: 0008_trimmed_runs
Revises: 0007_articles_by_run
Create Date: 2026-11-24 22:10:00.000000

Runs older than `[database] run_details_days` keep their times and totals only
(`storage.runs.trim_old_runs`); this column says when, and which rows are done.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_trimmed_runs"
down_revision = "0007_articles_by_run"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("details_removed_at", sa.DateTime(timezone=True)))
    # the untrimmed old rows, found without reading every row (and its summary)
    op.create_index("ix_runs_untrimmed", "runs", ["details_removed_at", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_untrimmed", table_name="runs")
    with op.batch_alter_table("runs") as batch_op:  # SQLite drops a column by rebuilding
        batch_op.drop_column("details_removed_at")
