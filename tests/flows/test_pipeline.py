"""The stages of a run as plain functions, against a real HTTP server and real stores."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerts import RuleSet
from flows.errors import FetchError
from flows.fetch import FetchOptions
from flows.fetcher import Fetcher
from flows.items import Candidate
from flows.pipeline import (
    Collected,
    batches,
    collect_source,
    fetch_and_extract,
    store_and_match,
    unseen,
)
from flows.settings import Settings, SourceSettings
from storage import ArticleIn, ensure_sources
from tests.servers import LoopbackHTTPServer

OPTIONS = FetchOptions(allow_networks=["127.0.0.0/8"], per_host_delay=0)  # type: ignore[list-item]
PAGE = """<html lang="en"><head><title>Launchers on parade</title></head><body><article>
<h1>Launchers on parade</h1><p>The army displayed mobile missile launchers on Sunday in the
capital, officials said, in the largest parade in a decade.</p><p>Foreign observers were
invited for the first time and counted more than forty vehicles.</p></article></body></html>"""


def settings_in(folder: Path, *sources: SourceSettings) -> Settings:
    return Settings(path=folder / "newswatch.toml", fetch=OPTIONS, sources=sources)


def collect(source: SourceSettings, settings: Settings):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with Fetcher(settings.fetch) as fetcher:
            return await collect_source(source, settings=settings, fetcher=fetcher)

    return asyncio.run(go())


def extract(candidates: list[Candidate]):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with Fetcher(OPTIONS) as fetcher:
            return await fetch_and_extract(candidates, fetcher=fetcher)

    return asyncio.run(go())


def test_url_list_seed_yields_candidates_and_bad_seeds_are_failures(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "watch.txt").write_text("# pages to watch\nhttps://a.test/1\n\nhttps://a.test/2\n")
    (seeds / "broken.txt").write_text("no date line here\nat all\n")
    source = SourceSettings(name="desk", seeds="seeds")

    collected = collect(source, settings_in(tmp_path, source))

    assert [c.url for c in collected.candidates] == ["https://a.test/1", "https://a.test/2"]
    (failure,) = collected.failures
    assert failure.target == str(seeds / "broken.txt")
    assert failure.reason.startswith(str(seeds / "broken.txt"))


def test_sitemap_source_follows_its_index_to_the_article_urls(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    child = http_server.route(
        "/news-sitemap.xml",
        f"<urlset {ns}><url><loc>{http_server.url('/a/1')}</loc>"
        f"<lastmod>2025-03-02T10:00:00Z</lastmod></url>"
        f"<url><loc>{http_server.url('/a/2')}</loc></url></urlset>",
        content_type="application/xml",
    )
    index = http_server.route(
        "/sitemap.xml",
        f"<sitemapindex {ns}><sitemap><loc>{child}</loc></sitemap></sitemapindex>",
        content_type="application/xml",
    )
    source = SourceSettings(name="site", sitemap=index)

    collected = collect(source, settings_in(tmp_path, source))

    assert [c.url for c in collected.candidates] == [
        http_server.url("/a/1"),
        http_server.url("/a/2"),
    ]
    assert collected.candidates[0].published_at is not None


def test_a_feed_that_is_not_found_fails_the_source_with_its_url(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    source = SourceSettings(name="gone", feed=http_server.url("/feed.xml"))
    with pytest.raises(FetchError, match="404"):
        collect(source, settings_in(tmp_path, source))


def test_pages_are_extracted_and_a_failed_page_falls_back_to_the_feed_entry(
    http_server: LoopbackHTTPServer,
) -> None:
    good = http_server.route("/good", PAGE)
    gone = http_server.url("/gone")
    candidates = [
        Candidate(url=good, source="news", guid="g1"),
        Candidate(url=gone, source="news", title="Gone", summary="Launchers seen near the border."),
        Candidate(url=http_server.url("/also-gone"), source="news", title="No summary"),
    ]

    extracted = extract(candidates)

    by_url = {article.url: article for article in extracted.articles}
    assert by_url[good].title == "Launchers on parade"
    assert by_url[good].origin == "page" and by_url[good].guid == "g1"
    assert by_url[gone].origin == "feed"
    assert "404" in (by_url[gone].note or "")
    reasons = {failure.target: failure.reason for failure in extracted.failures}
    assert "stored the feed entry's own text instead" in reasons[gone]
    assert "404" in reasons[http_server.url("/also-gone")]


def test_unseen_drops_stored_urls_seen_guids_and_repeats(engine: Engine) -> None:
    stored = ArticleIn(
        url="https://a.test/1", source="news", title="t", text="x", origin="page", guid="g-1"
    )
    ids = source_ids(engine)
    store_and_match([stored], engine=engine, rules=RuleSet([]), source_ids=ids, run_id=None)
    candidates = [
        Candidate(url="https://A.test/1#top", source="news"),
        Candidate(url="https://a.test/moved-to-a-new-url", source="news", guid="g-1"),
        Candidate(url="https://a.test/2?utm_source=rss", source="news", guid="g-2"),
        Candidate(url="https://a.test/2", source="news"),
    ]
    fresh = unseen(candidates, engine=engine, source_ids=ids)
    assert [c.url for c in fresh] == ["https://a.test/2?utm_source=rss"]


def source_ids(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("news", "feed", "https://a.test/feed")])
        session.commit()
    return ids


def test_batches_cut_work_into_tasks_of_bounded_size() -> None:
    assert batches(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches([], 3) == []


RSS = """<rss version="2.0"><channel><title>T</title>{items}</channel></rss>"""


def test_feed_poll_sends_validators_and_parses_only_a_changed_body(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    item = "<item><title>{0}</title><link>https://a.test/{0}</link><guid>{0}</guid></item>"
    feed = http_server.route(
        "/feed.xml",
        RSS.format(items=item.format("one")),
        content_type="application/rss+xml",
        headers={"ETag": '"v1"'},
    )
    source = SourceSettings(name="wire", feed=feed)
    settings = settings_in(tmp_path, source)

    first = collect(source, settings)
    # The server ignores If-None-Match and sends the same body again: the hash catches it.
    again = collect_with_state(source, settings, first.feed_state)
    http_server.route(
        "/feed.xml",
        RSS.format(items=item.format("two")),
        content_type="application/rss+xml",
        headers={"ETag": '"v1"'},
    )
    changed = collect_with_state(source, settings, again.feed_state)

    assert [c.url for c in first.candidates] == ["https://a.test/one"]
    assert first.feed_state is not None and first.feed_state.etag == '"v1"'
    assert (again.unchanged, again.candidates) == (True, [])
    assert http_server.requests_to("/feed.xml")[1].headers["if-none-match"] == '"v1"'
    assert not changed.unchanged  # same validators, new content: a server that lies
    assert [c.url for c in changed.candidates] == ["https://a.test/two"]


def test_feed_answering_304_is_not_parsed(tmp_path: Path, http_server: LoopbackHTTPServer) -> None:
    from tests.servers import Response

    feed = http_server.sequence(
        "/feed.xml",
        [
            Response(200, RSS.format(items="").encode(), {"ETag": '"v1"'}),
            Response(304, b"", {"ETag": '"v1"'}),
        ],
    )
    source = SourceSettings(name="wire", feed=feed)
    settings = settings_in(tmp_path, source)
    first = collect(source, settings)
    second = collect_with_state(source, settings, first.feed_state)
    assert second.unchanged and second.feed_state == first.feed_state


def collect_with_state(source, settings, state):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with Fetcher(settings.fetch) as fetcher:
            return await collect_source(
                source, settings=settings, fetcher=fetcher, feed_state=state
            )

    return asyncio.run(go())


def test_a_page_that_is_not_an_article_is_skipped_not_stored_from_the_feed(
    http_server: LoopbackHTTPServer,
) -> None:
    pdf = http_server.route(
        "/report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", content_type="application/pdf"
    )
    candidate = Candidate(
        url=pdf,
        source="news",
        title="Annual report",
        summary="The annual report is out, with missile launcher figures.",
    )

    extracted = extract([candidate])

    assert extracted.articles == [] and extracted.failures == []
    (skipped,) = extracted.not_articles
    assert skipped.target == pdf and "PDF" in skipped.reason


def _page(title: str, sentence: str, *, head: str = "") -> str:
    return (
        f'<html lang="en"><head><title>{title}</title>{head}</head><body><article>'
        f"<h1>{title}</h1><p>{sentence} Officials gave no further details on Sunday, and"
        " observers said they expected more news later in the week.</p></article></body></html>"
    )


def test_categories_from_pages_and_feed_entries_are_stored(
    tmp_path: Path, http_server: LoopbackHTTPServer, engine: Engine
) -> None:
    from sqlmodel import select

    from flows.cli_store import export_record
    from storage import Article

    keywords = '<meta name="keywords" content="Military, parades">'
    tagged = http_server.route("/tagged", _page("Parade", "Launchers rolled by.", head=keywords))
    plain = http_server.route("/plain", _page("Convoy", "A convoy crossed the river."))
    budget = http_server.route("/budget", _page("Budget", "The budget passed at night."))
    gone = http_server.url("/gone")
    item = "<item><title>{}</title><link>{}</link>{}<description>{}</description></item>"
    rss = RSS.format(
        items=item.format(
            "Parade", tagged, "<category>Defence</category><category>military</category>", ""
        )
        + item.format("Convoy", plain, "<category>World</category>", "")
        + item.format("Border", gone, "<category>Border</category>", "Troops at the border.")
    )
    json_feed = (
        '{"version": "https://jsonfeed.org/version/1.1", "items": '
        f'[{{"id": "b1", "url": "{budget}", "tags": ["Economy", "economy", "Budget"]}}]}}'
    )
    sources = [
        SourceSettings(name="rss", feed=http_server.route("/f.xml", rss)),
        SourceSettings(name="json", feed=http_server.route("/f.json", json_feed)),
    ]
    settings = settings_in(tmp_path, *sources)
    candidates = [c for source in sources for c in collect(source, settings).candidates]
    extracted = extract(candidates)
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[(s.name, "feed", s.feed) for s in sources])
        session.commit()

    store_and_match(
        extracted.articles, engine=engine, rules=RuleSet([]), source_ids=ids, run_id=None
    )

    with Session(engine) as session:
        rows = {row.url: row for row in session.exec(select(Article)).all()}
    assert {url: (row.origin, row.categories) for url, row in rows.items()} == {
        tagged: ("page", ["Military", "parades", "Defence"]),  # the page's first, then the feed's
        plain: ("page", ["World"]),
        budget: ("page", ["Economy", "Budget"]),
        gone: ("feed", ["Border"]),  # the page failed: the feed entry stands in, tags and all
    }
    assert export_record(rows[tagged], "rss")["categories"] == ["Military", "parades", "Defence"]


def test_a_redirect_to_a_page_robots_txt_disallows_is_a_failure_naming_both_urls(
    http_server: LoopbackHTTPServer,
) -> None:
    other = LoopbackHTTPServer().start()
    try:
        other.route("/robots.txt", "User-agent: *\nDisallow: /private\n", content_type="text/plain")
        target = other.route("/private/story", PAGE)
        start = http_server.route("/story", status=301, headers={"Location": target})

        extracted = extract([Candidate(url=start, source="news", title="Story")])
    finally:
        other.stop()

    assert extracted.articles == []
    (failure,) = extracted.failures
    assert (failure.target, failure.reason) == (
        start,
        f"{start}: redirect to {target} disallowed by robots.txt",
    )
    assert other.requests_to("/private/story") == []


def test_worker_matches_are_used_only_while_the_text_is_the_one_they_were_made_for() -> None:
    from alerts import Match, Rule
    from flows.pipeline import _matched_already
    from storage.stories import prepare

    rules = RuleSet([Rule(name="storm", query="storm")])
    match = Match(("storm",), "text", 0, 5, "storm", 0, 5)
    text = "A storm closed the harbour for two days."
    fresh = ArticleIn(
        url="https://c.example/a",
        source="c",
        title="Storm",
        text=text,
        origin="page",
        prepared=prepare(text),
        matched=(("storm", match), ("gone-from-config", match)),
    )
    edited = fresh.model_copy(update={"url": "https://c.example/b", "text": text + " Updated."})

    found = _matched_already({"https://c.example/a": fresh, "https://c.example/b": edited}, rules)

    assert found == {"https://c.example/a": [(rules.rules[0], match)]}


def test_later_batches_of_a_run_reuse_the_rule_gates_the_first_one_registered(
    engine: Engine,
) -> None:
    from alerts import Rule

    rules = RuleSet([Rule(name="launchers", query='"missile launcher"')])
    ids = source_ids(engine)
    reads: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if " rules" in statement:
            reads.append(statement)

    def batch(number: int) -> list[ArticleIn]:
        words = " ".join(f"w{number}x{n}" for n in range(30))  # another story each time
        text = f"The army showed a new missile launcher. {words}"
        url = f"https://a.test/{number}"
        return [ArticleIn(url=url, source="news", title=f"t{number}", text=text, origin="page")]

    event.listen(engine, "after_cursor_execute", record)
    try:
        first = store_and_match(batch(1), engine=engine, rules=rules, source_ids=ids, run_id=None)
        touched_first, reads[:] = len(reads), []
        second = store_and_match(
            batch(2), engine=engine, rules=rules, source_ids=ids, run_id=None, gates=first.gates
        )
    finally:
        event.remove(engine, "after_cursor_execute", record)

    assert touched_first >= 2  # the rule's row read, and inserted: it is new
    assert reads == []
    assert first.gates is not None and set(first.gates) == {"launchers"}
    assert [fired.rule for fired in first.fired + second.fired] == ["launchers", "launchers"]


def test_newest_dated_entry_leaves_out_undated_ones_and_dates_more_than_a_day_ahead() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    dated = [None, now - timedelta(days=3), now + timedelta(hours=20), now + timedelta(days=2)]
    collected = Collected(
        "wire",
        candidates=[
            Candidate(url=f"https://x.test/{n}", source="wire", published_at=when)
            for n, when in enumerate(dated)
        ],
        articles=[
            ArticleIn(
                url="https://x.test/seed",
                title="Seed",
                text="A seed article.",
                source="wire",
                origin="seed",
                published_at=now - timedelta(days=1),
            )
        ],
    )

    assert collected.newest_dated(now=now) == now + timedelta(hours=20)  # a time zone's slip
    assert Collected("empty").newest_dated(now=now) is None
    undated = Collected("undated", candidates=[Candidate(url="https://x.test/u", source="u")])
    assert undated.newest_dated(now=now) is None
