"""story index pruning: index signatures by when they were stored

Revision ID: 0006_prune_story_index
Revises: 0005_alert_engine
Create Date: 2026-11-24 21:30:00.000000

Each run removes the fingerprints of articles stored before the story window
(`storage.story_index.prune_story_index`); this index finds them without
reading every signature.
"""

from __future__ import annotations

from alembic import op

revision = "0006_prune_story_index"
down_revision = "0005_alert_engine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain CREATE INDEX on both backends: no table is rebuilt
    op.create_index(
        op.f("ix_story_signatures_created_at"), "story_signatures", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_story_signatures_created_at"), table_name="story_signatures")
