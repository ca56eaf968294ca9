"""source moved: where a source's permanent redirects led

Revision ID: 0009_source_moved
Revises: 0008_trimmed_runs
Create Date: 2026-11-25 02:30:00.000000

A feed or sitemap that answers with a 301 or 308 has moved for good: the run and
`newswatch sources list` say where, so the user can update the config.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_source_moved"
down_revision = "0008_trimmed_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sources", sa.Column("moved_to", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch_op:  # SQLite drops a column by rebuilding
        batch_op.drop_column("moved_to")
