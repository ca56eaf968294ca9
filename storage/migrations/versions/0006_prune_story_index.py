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
    with op.batch_alter_table("story_signatures") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_story_signatures_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("story_signatures") as batch_op:
        batch_op.drop_index(batch_op.f("ix_story_signatures_created_at"))
