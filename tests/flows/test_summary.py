"""What a run publishes stays readable however much it did: the markdown summary and the
alerts table show their first rows and say where the rest are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts import Fired
from flows.artifacts import ARTIFACT_ROWS, alerts_table, source_line
from flows.pipeline import Failure
from flows.summary import SECTION_ROWS, RunSummary, SourceReport
from storage import ArticleIn, utcnow


def summary_with(alerts: int, failures: int = 0) -> RunSummary:
    summary = RunSummary(run_id=7, started_at=utcnow())
    articles = [
        ArticleIn(
            url=f"https://x.test/{n}", source="wire", title=f"Story {n}", text="t", origin="page"
        )
        for n in range(alerts)
    ]
    fired = [
        Fired(f"alert-{n}", "launchers", n, f"Story {n}", f"https://x.test/{n}", ("desk",), "s")
        for n in range(alerts)
    ]
    summary.add_alerts(fired, articles=articles)
    summary.failures = [
        Failure("wire", f"https://x.test/gone/{n}", "HTTP 404") for n in range(failures)
    ]
    return summary


def test_the_markdown_lists_the_first_alerts_and_says_the_cli_lists_them_all() -> None:
    markdown = summary_with(alerts=SECTION_ROWS + 50, failures=3).to_markdown()

    assert markdown.count("| launchers | [Story ") == SECTION_ROWS
    assert f"[Story {SECTION_ROWS - 1}]" in markdown and f"[Story {SECTION_ROWS}]" not in markdown
    assert "… and 50 more: `newswatch alerts list --run 7` lists them all." in markdown
    assert markdown.count("HTTP 404") == 3  # a short section is whole, with no such line
    assert markdown.count("… and") == 1


def test_the_alerts_table_shows_the_first_rows_and_its_description_where_the_rest_are() -> None:
    summary = summary_with(alerts=ARTIFACT_ROWS + 1)

    rows, description = alerts_table(summary, outlets={"alert-0": ["wire", "courier"]})

    assert len(rows) == ARTIFACT_ROWS
    assert rows[0] == {
        "rule": "launchers",
        "title": "Story 0",
        "outlets": "wire, courier",
        "link": "https://x.test/0",
    }
    assert rows[1]["outlets"] == "wire"  # no outlets stored: the article's own source
    assert description == (
        f"the first {ARTIFACT_ROWS} of the {ARTIFACT_ROWS + 1} alerts fired in this run; "
        "`newswatch alerts list --run 7` lists them all"
    )


def test_a_run_with_few_alerts_publishes_them_all() -> None:
    rows, description = alerts_table(summary_with(alerts=2), outlets={})

    assert [row["title"] for row in rows] == ["Story 0", "Story 1"]
    assert description == "alerts fired in this run"


def test_a_source_that_moved_for_good_is_named_with_its_new_home_in_markdown_and_logs() -> None:
    summary = RunSummary(run_id=7, started_at=utcnow())
    summary.sources = [
        SourceReport("wire", "feed", found=3, moved_to="https://new.test/rss"),
        SourceReport("desk", "seeds", found=1),
    ]

    markdown = summary.to_markdown()

    assert (
        "## Sources moved\n\n| source | now at |\n|---|---|\n| wire | https://new.test/rss |"
        in (markdown)
    )
    assert source_line(summary.sources[0]).endswith(
        "; moved permanently to https://new.test/rss: update the config"
    )
    assert "moved" not in source_line(summary.sources[1])


def test_a_quiet_source_is_listed_with_its_silence_in_markdown() -> None:
    started = datetime(2026, 11, 25, 12, tzinfo=UTC)
    summary = RunSummary(run_id=7, started_at=started)
    summary.sources = [
        SourceReport("wire", "feed", quiet_since=(started - timedelta(days=9)).isoformat()),
        SourceReport("blog", "feed", quiet_since=(started - timedelta(hours=30)).isoformat()),
        SourceReport("desk", "seeds", found=1),
    ]

    markdown = summary.to_markdown()

    assert (
        "## Sources gone quiet\n\n| source | listed |\n|---|---|\n"
        "| wire | nothing new since 2026-11-16 12:00 UTC (9 days) |\n"
        "| blog | nothing new since 2026-11-24 06:00 UTC (1 day) |"
    ) in markdown
    assert "desk |" not in markdown.split("## Sources gone quiet")[1]
