"""`newswatch sources try` and `sources add`, against a real HTTP server on 127.0.0.1: a
source polled once and its first pages extracted as a run would, nothing stored or sent;
a source appended to the config once a poll shows it answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows import cli
from flows.cli import app
from flows.settings import load_settings
from tests.servers import LoopbackHTTPServer

ARTICLE = """<html lang="en"><head><title>Launchers on parade</title>
<meta name="author" content="Ana Ruiz"></head><body><article>
<h1>Launchers on parade</h1><p>The army displayed mobile missile launchers on Sunday in the
capital, officials said, in the largest parade in a decade.</p><p>Foreign observers were
invited for the first time and counted more than forty vehicles.</p></article></body></html>"""


PUBLISHED = (datetime.now(UTC) - timedelta(days=1)).replace(hour=10, minute=0, second=0)


def item(url: str, title: str, description: str = "", published: datetime = PUBLISHED) -> str:
    return (
        f"<item><title>{title}</title><link>{url}</link><guid>{url}</guid>"
        f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>"
        f"<description>{description}</description></item>"
    )


@pytest.fixture
def site(http_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """A feed of four entries: an article, a PDF, a page gone whose entry has text of its
    own, and a page gone whose entry has none; a sitemap of the article; a broken feed."""
    article = http_server.route("/a/1", ARTICLE)
    pdf = http_server.route("/a/report", b"%PDF-1.7\n...", content_type="application/pdf")
    gone = http_server.route("/a/gone", "no such page", status=404)
    gone_bare = http_server.route("/a/gone-bare", "no such page", status=404)
    entries = [
        item(article, "Launchers on parade"),
        item(pdf, "The annual report"),
        item(
            gone, "Wheat forecast cut", "A dry spring cuts the wheat harvest forecast by a tenth."
        ),
        item(gone_bare, "Untitled"),
    ]
    http_server.route(
        "/feed.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        f"{''.join(entries)}</channel></rss>",
        content_type="application/rss+xml",
    )
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    http_server.route(
        "/sitemap.xml",
        f"<urlset {ns}><url><loc>{article}</loc></url></urlset>",
        content_type="application/xml",
    )
    http_server.route("/broken.xml", "<html><body>Welcome to our site</body></html>")
    return http_server


@pytest.fixture
def config(tmp_path: Path, site: LoopbackHTTPServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(cli.out, "width", 200)
    path = tmp_path / "newswatch.toml"
    path.write_text(
        f"""[database]
url = "sqlite:///{tmp_path / "newswatch.db"}"

[fetch]
allow_networks = ["127.0.0.0/8"]
per_host_delay = 0

[[sources]]
name = "wire"
feed = "{site.url("/feed.xml")}"

[[rules]]
name = "launchers"
query = '"missile launcher"'
"""
    )
    return path


def tried(config: Path, *args: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, ["sources", "try", *args, "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_configured_feed_shows_what_each_page_would_become_and_the_rules_it_fires(
    config: Path,
) -> None:
    trial = tried(config, "wire")

    assert (trial["source"], trial["kind"], trial["found"]) == ("wire", "feed", 4)
    rows = [(page["url"].rsplit("/", 1)[1], page["result"]) for page in trial["tried"]]
    assert rows == [
        ("1", "article"),
        ("report", "not an article"),
        ("gone", "feed text"),
        ("gone-bare", "failed"),
    ]
    article, pdf, gone, gone_bare = trial["tried"]
    assert article["title"] == "Launchers on parade" and article["author"] == "Ana Ruiz"
    assert article["rules"] == ["launchers"] and article["words"] > 30
    assert article["published_at"].startswith(f"{PUBLISHED:%Y-%m-%d}")
    # why, without the URL the row shows already
    assert (pdf["reason"], pdf["words"]) == ("PDF document", 0)
    assert gone["reason"] == "HTTP 404 Not Found" and gone["text"].startswith("A dry spring")
    assert (gone_bare["reason"], gone_bare["title"]) == ("HTTP 404 Not Found", None)


def test_nothing_is_stored_and_the_store_is_not_even_opened(config: Path) -> None:
    tried(config, "wire")

    assert not (config.parent / "newswatch.db").exists()


def test_limit_tries_only_the_first_pages_and_says_how_many_were_found(
    config: Path, site: LoopbackHTTPServer
) -> None:
    trial = tried(config, "wire", "--limit", "1")

    assert trial["found"] == 4 and len(trial["tried"]) == 1
    assert site.requests_to("/a/report") == []  # no request for a page not tried


def test_a_url_is_tried_as_a_feed_a_sitemap_or_one_page(
    config: Path, site: LoopbackHTTPServer
) -> None:
    as_feed = tried(config, site.url("/feed.xml"))
    as_sitemap = tried(config, site.url("/sitemap.xml"), "--as", "sitemap")
    as_page = tried(config, site.url("/a/1"), "--as", "page")

    assert (as_feed["kind"], as_feed["found"]) == ("feed", 4)
    assert (as_sitemap["kind"], as_sitemap["found"]) == ("sitemap", 1)
    assert (as_page["kind"], as_page["found"]) == ("urls", 1)
    for trial in (as_sitemap, as_page):
        (page,) = trial["tried"]
        assert (page["result"], page["title"], page["rules"]) == (
            "article",
            "Launchers on parade",
            ["launchers"],
        )


def test_a_broken_feed_is_a_one_line_error_naming_it(
    config: Path, site: LoopbackHTTPServer
) -> None:
    url = site.url("/broken.xml")
    result = CliRunner().invoke(app, ["sources", "try", url, "--config", str(config)])

    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line == f"newswatch: error: {url}: an HTML page, not a feed"


def test_a_configured_source_that_fails_is_named_in_its_error(
    config: Path, site: LoopbackHTTPServer
) -> None:
    text = config.read_text().replace("/feed.xml", "/broken.xml")
    config.write_text(text)
    result = CliRunner().invoke(app, ["sources", "try", "wire", "--config", str(config)])

    assert result.exit_code == 1
    url = site.url("/broken.xml")
    assert result.stderr.strip() == f"newswatch: error: wire: {url}: an HTML page, not a feed"


def test_a_target_neither_configured_nor_a_url_is_a_usage_error(config: Path) -> None:
    result = CliRunner().invoke(app, ["sources", "try", "nowhere", "--config", str(config)])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"newswatch: error: nowhere: not a source of {config}, nor an http(s) URL"
    )


def test_the_table_shows_each_page_with_its_result_and_why(config: Path) -> None:
    result = CliRunner().invoke(app, ["sources", "try", "wire", "--config", str(config)])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith(
        f": 4 entries (the newest dated {PUBLISHED:%Y-%m-%d %H:%M} UTC) found, 4 pages tried;"
        " nothing stored, nothing sent"
    )
    assert any(line.split()[:1] == ["article"] and "launchers" in line for line in lines)
    assert any(line.lstrip().startswith("not an article") for line in lines)
    assert any(f"{PUBLISHED:%Y-%m-%d} · Ana Ruiz" in line for line in lines)


def write_seeds(folder: Path) -> Path:
    """A folder of two seed files: an article and one without its date line."""
    folder.mkdir(parents=True)
    (folder / "parade.txt").write_text(
        "date 2025-03-02\nLaunchers on parade\nThe army displayed mobile missile launchers "
        "on Sunday in the capital, in the largest parade in a decade.\n"
    )
    (folder / "broken.txt").write_text("no date line here\n")
    return folder


def test_a_seeds_source_shows_each_file_and_the_malformed_one_with_why(
    config: Path,
) -> None:
    seeds = write_seeds(config.parent / "seeds")
    config.write_text(config.read_text() + '\n[[sources]]\nname = "desk"\nseeds = "seeds/"\n')

    trial = tried(config, "desk")

    assert (trial["kind"], trial["found"]) == ("seeds", 2)
    parade, broken = trial["tried"]
    assert (parade["result"], parade["title"], parade["rules"]) == (
        "article",
        "Launchers on parade",
        ["launchers"],
    )
    assert broken["result"] == "failed" and broken["url"] == str(seeds / "broken.txt")
    assert "date" in broken["reason"] and not broken["reason"].startswith(str(seeds))


def add(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["sources", "add", *args, "--config", str(config)])
    return result.exit_code, result.stdout, result.stderr


def test_add_appends_a_feed_that_answers_and_keeps_the_config_as_written(
    config: Path, site: LoopbackHTTPServer
) -> None:
    config.write_text("# my sources, by desk\n" + config.read_text())
    url = site.url("/sitemap.xml")

    code, stdout, stderr = add(config, url, "--as", "sitemap", "--name", "maps", "--every", "2h")

    assert (code, stderr) == (0, "")
    assert stdout.strip() == f"added maps: sitemap {url}, 1 entry in it now"
    assert config.read_text().startswith("# my sources, by desk\n")
    added = load_settings(config).sources[-1]
    assert (added.name, added.sitemap, added.every) == ("maps", url, "2h")
    assert site.requests_to("/a/1") == []  # the check reads the sitemap, no page


def test_add_names_a_source_after_its_host_by_default(config: Path) -> None:
    url = "https://gazette.test/rss.xml"

    code, stdout, _ = add(config, url, "--no-check")

    assert code == 0 and stdout.strip() == f"added gazette.test: feed {url}"
    assert load_settings(config).sources[-1].feed == url


def test_add_refuses_a_feed_that_fails_and_leaves_the_config_unchanged(
    config: Path, site: LoopbackHTTPServer
) -> None:
    before = config.read_text()
    site.route(
        "/home",
        '<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml">'
        "</head><body>Welcome</body></html>",
    )

    code, _, stderr = add(config, site.url("/home"), "--name", "home")

    assert code == 1 and config.read_text() == before
    assert stderr.strip() == (
        f"newswatch: error: {site.url('/home')}: an HTML page, not a feed; it names "
        f"{site.url('/feed.xml')} (not added)"
    )


def test_add_takes_a_local_folder_as_seeds_written_relative_to_the_config(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = write_seeds(config.parent / "dumps" / "desk") / "broken.txt"
    monkeypatch.chdir(config.parent / "dumps")

    code, stdout, stderr = add(config, "desk/")

    assert (code, stderr) == (0, "")
    assert stdout.splitlines() == [
        "added desk: seeds dumps/desk/, 1 entry in it now, 1 unreadable",
        f"unreadable: {broken}: line 1 must be 'date YYYY-MM-DD' (or the file a list of "
        "URLs), found 'no date line here'",
    ]
    added = load_settings(config).sources[-1]
    assert (added.name, added.seeds) == ("desk", "dumps/desk/")
    assert config.read_text().endswith('name = "desk"\nseeds = "dumps/desk/"\n')


def test_add_writes_seeds_outside_the_config_folder_as_an_absolute_path(
    config: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = write_seeds(tmp_path_factory.mktemp("elsewhere") / "wire")

    code, stdout, _ = add(config, str(elsewhere / "*.txt"), "--name", "wire-dumps")

    assert code == 0, stdout
    assert load_settings(config).sources[-1].seeds == str(elsewhere / "*.txt")
    assert stdout.startswith(f"added wire-dumps: seeds {elsewhere / '*.txt'}, 1 entry in it now")


def test_add_refuses_a_seeds_folder_configured_already_under_another_spelling(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_seeds(config.parent / "desk")
    config.write_text(config.read_text() + '\n[[sources]]\nname = "desk"\nseeds = "./desk"\n')
    before = config.read_text()
    monkeypatch.chdir(config.parent)

    code, _, stderr = add(config, "desk/", "--name", "desk-again")

    assert code == 2 and config.read_text() == before
    assert stderr.strip() == "newswatch: error: desk/ is configured already, as 'desk'"


def test_add_refuses_a_seeds_folder_with_no_seed_files(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = config.read_text()
    monkeypatch.chdir(config.parent)

    code, _, stderr = add(config, "missing/")

    assert code == 1 and config.read_text() == before
    assert stderr.strip() == (
        f"newswatch: error: {config.parent / 'missing'}: no seed files match 'missing/' (not added)"
    )


def test_add_refuses_a_url_as_seeds(config: Path) -> None:
    before = config.read_text()

    code, _, stderr = add(config, "https://a.test/rss", "--as", "seeds")

    assert code == 2 and config.read_text() == before
    assert stderr.strip() == (
        "newswatch: error: https://a.test/rss: seeds are local files, not a URL "
        "(--as feed or sitemap)"
    )


def test_add_refuses_a_home_page_as_a_sitemap_naming_the_sitemaps_its_robots_txt_lists(
    config: Path, site: LoopbackHTTPServer
) -> None:
    before = config.read_text()
    site.route("/", "<!doctype html><html><body>Welcome</body></html>")
    news, archive = site.url("/news-sitemap.xml"), site.url("/sitemap.xml")
    site.route(
        "/robots.txt", f"User-agent: *\nDisallow: /private/\nSitemap: {news}\nSitemap: {archive}\n"
    )

    code, _, stderr = add(config, site.url("/"), "--as", "sitemap", "--name", "home")

    assert code == 1 and config.read_text() == before
    assert stderr.strip() == (
        f"newswatch: error: {site.url('/')}: an HTML page, not a sitemap; its site's "
        f"robots.txt names {news}, {archive} (not added)"
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["https://a.test/rss", "--name", "wire"], "a source named 'wire' is configured already"),
        (["{feed}", "--name", "other"], "{feed} is configured already, as 'wire'"),
        (["https://a.test/rss", "--every", "soon"], "--every: "),
        (["ftp://a.test/rss"], "the URL: must be an http:// or https:// URL"),
        (["https://a.test/rss", "--name", "-x"], "--name: "),
    ],
)
def test_add_refuses_a_source_configured_already_or_invalid_before_polling_it(
    config: Path, site: LoopbackHTTPServer, args: list[str], error: str
) -> None:
    before = config.read_text()
    feed = site.url("/feed.xml")
    requests = len(site.requests)

    code, _, stderr = add(config, *(arg.format(feed=feed) for arg in args))

    assert code == 2 and config.read_text() == before
    assert stderr.startswith(f"newswatch: error: {error.format(feed=feed)}"), stderr
    assert len(site.requests) == requests  # refused before any request


def test_add_writes_where_a_permanent_redirect_leads_and_says_so(
    config: Path, site: LoopbackHTTPServer
) -> None:
    sitemap = site.url("/sitemap.xml")
    old = site.route("/old-sitemap.xml", status=308, headers={"Location": sitemap})

    code, stdout, stderr = add(config, old, "--as", "sitemap", "--name", "maps")

    assert (code, stderr) == (0, "")
    assert stdout.splitlines() == [
        f"added maps: sitemap {sitemap}, 1 entry in it now",
        f"{old} redirects there permanently",
    ]
    assert load_settings(config).sources[-1].sitemap == sitemap


def test_add_refuses_a_feed_whose_permanent_redirect_leads_to_a_configured_one(
    config: Path, site: LoopbackHTTPServer
) -> None:
    before = config.read_text()
    old = site.route("/rss", status=301, headers={"Location": "/feed.xml"})

    code, _, stderr = add(config, old, "--name", "again")

    assert code == 2 and config.read_text() == before
    assert stderr.strip() == (
        f"newswatch: error: {site.url('/feed.xml')} is configured already, as 'wire'"
    )


def test_add_keeps_a_url_whose_new_home_would_drop_its_credentials_and_names_it(
    config: Path, site: LoopbackHTTPServer
) -> None:
    elsewhere = site.url("/feed.xml").replace("127.0.0.1", "localhost")  # another origin
    site.route("/private/rss", status=301, headers={"Location": elsewhere})
    given = site.url("/private/rss").replace("://", "://desk:s3cret@")

    code, stdout, _ = add(config, given, "--name", "private")

    assert code == 0
    assert stdout.splitlines() == [
        f"added private: feed {given.replace('s3cret', '****')}, 4 entries in it now",
        f"moved permanently to {elsewhere}: update the config",
    ]
    assert load_settings(config).sources[-1].feed == given


def test_add_follows_a_same_origin_move_keeping_the_credentials(
    config: Path, site: LoopbackHTTPServer
) -> None:
    site.route("/private/rss", status=301, headers={"Location": "/feed.xml"})
    given = site.url("/private/rss").replace("://", "://desk:s3cret@")
    moved = site.url("/feed.xml").replace("://", "://desk:s3cret@")

    code, stdout, _ = add(config, given, "--name", "private")

    assert code == 0
    assert "s3cret" not in stdout
    assert (
        stdout.splitlines()[-1] == f"{given.replace('s3cret', '****')} redirects there permanently"
    )
    assert load_settings(config).sources[-1].feed == moved


def test_try_says_where_a_source_moved_permanently(config: Path, site: LoopbackHTTPServer) -> None:
    old = site.route("/old-feed.xml", status=301, headers={"Location": "/feed.xml"})

    trial = tried(config, old, "--limit", "1")

    assert (trial["found"], trial["moved_to"]) == (4, site.url("/feed.xml"))


def test_try_and_add_ask_about_a_feed_whose_newest_entry_is_older_than_its_quiet_limit(
    config: Path, site: LoopbackHTTPServer
) -> None:
    old = datetime(2024, 3, 1, 9, tzinfo=UTC)
    entries = item(site.url("/a/1"), "Launchers on parade", published=old) + item(
        site.url("/a/report"), "The annual report", published=old - timedelta(days=3)
    )
    stale = site.route(
        "/stale.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Old</title>{entries}'
        "</channel></rss>",
        content_type="application/rss+xml",
    )
    age = (datetime.now(UTC) - old).days
    question = (
        f"its newest entry is dated 2024-03-01 ({age} days ago): is the site still updating it?"
    )

    trial = tried(config, stale)
    shown = CliRunner().invoke(app, ["sources", "try", stale, "--config", str(config)])
    code, stdout, _ = add(config, stale, "--name", "old")

    assert trial["newest_dated"] == old.isoformat()
    assert question in shown.stdout
    assert code == 0  # added all the same: the user may know better
    assert stdout.splitlines() == [f"added old: feed {stale}, 2 entries in it now", question]
