"""alert engine: one alert per (rule, story), outlets, rules, outbox retries and bundles

Revision ID: 0005_alert_engine
Revises: 0004_categories
Create Date: 2026-11-24 00:30:00.000000

Existing alerts get their article's story; where one rule had fired on several
articles of one story, the earliest alert is kept, the others become its
outlets (`alert_articles`) and their deliveries are dropped. Existing
deliveries become `kind = "alert"` rows keyed by their alert id.
`articles` is never rebuilt (its FTS triggers would go); `alerts` and
`deliveries` are, through batch mode on SQLite.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005_alert_engine"
down_revision = "0004_categories"
branch_labels = None
depends_on = None

# The alert each (rule, story) keeps: the earliest, ties broken by id.
KEEPER = (
    "(SELECT k.id FROM alerts k WHERE k.rule = {alert}.rule AND k.story_id = {alert}.story_id"
    " ORDER BY k.created_at, k.id LIMIT 1)"
)


def upgrade() -> None:
    _create_rules_and_alert_articles()
    _alerts_per_story()
    _deliveries_as_outbox()


def _create_rules_and_alert_articles() -> None:
    op.create_table(
        "rules",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("query_since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rules")),
    )
    op.create_table(
        "alert_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_articles_alert_id_alerts")
        ),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_alert_articles_article_id_articles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_articles")),
        sa.UniqueConstraint("alert_id", "article_id", name="uq_alert_article"),
    )
    with op.batch_alter_table("alert_articles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_articles_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alert_articles_article_id"), ["article_id"], unique=False
        )


def _alerts_per_story() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("run_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE alerts SET story_id = "
        "(SELECT articles.story_id FROM articles WHERE articles.id = alerts.article_id)"
    )
    op.execute(
        "INSERT INTO alert_articles (alert_id, article_id, source, url, attached_at) "
        f"SELECT {KEEPER.format(alert='a')}, a.article_id, s.name, ar.url, a.created_at "
        "FROM alerts a JOIN articles ar ON ar.id = a.article_id "
        "JOIN sources s ON s.id = ar.source_id"
    )
    duplicate = f"alerts.id <> {KEEPER.format(alert='alerts')}"
    op.execute(
        f"DELETE FROM deliveries WHERE alert_id IN (SELECT id FROM alerts WHERE {duplicate})"
    )
    op.execute(f"DELETE FROM alerts WHERE {duplicate}")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.alter_column("story_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint("uq_alert_rule_article", type_="unique")
        batch_op.create_index(batch_op.f("ix_alerts_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_story_id"), ["story_id"], unique=False)
        batch_op.create_unique_constraint("uq_alert_rule_story", ["rule", "story_id"])
        batch_op.create_foreign_key(batch_op.f("fk_alerts_run_id_runs"), "runs", ["run_id"], ["id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_story_id_stories"), "stories", ["story_id"], ["id"]
        )


def _deliveries_as_outbox() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("rule", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("bundle_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("digest", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE deliveries SET \"key\" = alert_id, kind = 'alert', created_at = updated_at, "
        "rule = (SELECT alerts.rule FROM alerts WHERE alerts.id = deliveries.alert_id)"
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        columns: list[tuple[str, sa.types.TypeEngine[Any]]] = [
            ("key", sa.String(length=32)),
            ("kind", sa.String(length=10)),
            ("rule", sa.String(length=200)),
            ("created_at", sa.DateTime(timezone=True)),
        ]
        for name, type_ in columns:
            batch_op.alter_column(name, existing_type=type_, nullable=False)
        batch_op.alter_column("alert_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.drop_constraint("uq_delivery_alert_channel", type_="unique")
        batch_op.create_index(batch_op.f("ix_deliveries_bundle_id"), ["bundle_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_deliveries_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_deliveries_rule"), ["rule"], unique=False)
        batch_op.create_unique_constraint("uq_delivery_key_channel", ["key", "channel"])
        batch_op.create_foreign_key(
            batch_op.f("fk_deliveries_bundle_id_deliveries"), "deliveries", ["bundle_id"], ["id"]
        )


def downgrade() -> None:
    """Back to one alert per (rule, article). Summaries and digests are dropped, the alerts
    they carried count as sent; held and dead deliveries go back to pending."""
    op.execute("UPDATE deliveries SET bundle_id = NULL")
    op.execute("DELETE FROM deliveries WHERE alert_id IS NULL")
    op.execute("UPDATE deliveries SET status = 'sent' WHERE status IN ('summarised', 'digested')")
    op.execute("UPDATE deliveries SET status = 'pending' WHERE status IN ('held', 'dead')")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_deliveries_bundle_id_deliveries"), type_="foreignkey"
        )
        batch_op.drop_constraint("uq_delivery_key_channel", type_="unique")
        batch_op.drop_index(batch_op.f("ix_deliveries_rule"))
        batch_op.drop_index(batch_op.f("ix_deliveries_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_deliveries_bundle_id"))
        batch_op.create_unique_constraint("uq_delivery_alert_channel", ["alert_id", "channel"])
        batch_op.alter_column("alert_id", existing_type=sa.String(length=32), nullable=False)
        for name in ("created_at", "next_attempt_at", "digest", "bundle_id", "rule", "kind", "key"):
            batch_op.drop_column(name)

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_alerts_story_id_stories"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_alerts_run_id_runs"), type_="foreignkey")
        batch_op.drop_constraint("uq_alert_rule_story", type_="unique")
        batch_op.drop_index(batch_op.f("ix_alerts_story_id"))
        batch_op.drop_index(batch_op.f("ix_alerts_run_id"))
        batch_op.create_unique_constraint("uq_alert_rule_article", ["rule", "article_id"])
        batch_op.drop_column("run_id")
        batch_op.drop_column("story_id")

    with op.batch_alter_table("alert_articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_articles_article_id"))
        batch_op.drop_index(batch_op.f("ix_alert_articles_alert_id"))
    op.drop_table("alert_articles")
    op.drop_table("rules")
