"""The `newswatch` console script as users call it: exit codes, one-line errors, JSON."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import LoopbackHTTPServer, LoopbackSMTPServer, Response, desk_channel

PROJECT = Path(__file__).resolve().parents[2]
NEWSWATCH = Path(sys.executable).with_name("newswatch")


def newswatch(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k != "NEWSWATCH_DATABASE_URL"}
    return subprocess.run(
        [str(NEWSWATCH), *args],
        cwd=cwd,
        env=inherited | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_starts_without_loading_the_minhash_library() -> None:
    """datasketch imports scipy and redis (~0.3 s): only fingerprinting a text may load it."""
    code = (
        "import sys, flows.cli; from storage.stories import fingerprint; "
        "print('datasketch' in sys.modules); fingerprint('a wire story'); "
        "print('datasketch' in sys.modules)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert loaded == ["False", "True"]


def test_missing_config_exits_2_with_one_line_naming_the_file(tmp_path: Path) -> None:
    result = newswatch("run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "newswatch: error: newswatch.toml: file not found"
    assert result.stdout == ""


def test_invalid_rule_exits_2_naming_rule_and_position(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[rules]]\nname = "r"\nquery = \'"missile launcher\'\n')
    result = newswatch("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"newswatch: error: {config}: rules[0].query: ")
    assert "position 0" in line


def test_unreachable_store_exits_1_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "newswatch.toml").write_text(
        '[database]\nurl = "postgresql+psycopg://nw:pw@127.0.0.1:1/none"\n'
    )
    result = newswatch("alerts", "list", cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("newswatch: error: store postgresql+psycopg://nw:***@127.0.0.1:1/none")
    run = newswatch("run", cwd=tmp_path)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr


@pytest.mark.flow
def test_bundled_example_run_prints_pure_json_with_the_alert(tmp_path: Path) -> None:
    """The quick start's example, through the installed console script and a temporary
    Prefect server, reading ./newswatch.toml from the working folder."""
    example = tmp_path / "example"
    shutil.copytree(PROJECT / "examples", example, ignore=shutil.ignore_patterns("*.db*"))
    env = {"PREFECT_HOME": str(tmp_path / "prefect")}
    result = newswatch("run", "--json", cwd=example, env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["totals"]["new"] == len(list((example / "seeds").glob("*.txt")))
    (alert,) = summary["alerts"]
    assert alert["rule"] == "missile-launchers"
    assert "missile launchers" in alert["snippet"]
    assert (example / "newswatch.db").exists()


HOSTILE = "Markets [/] rally [bold]despite[/bold] [link=http://evil.test]fears[/link]"


def test_run_summary_prints_titles_literally_never_as_markup() -> None:
    from datetime import UTC, datetime

    from flows import cli
    from flows.summary import RunSummary, SourceReport

    summary = RunSummary(run_id=1, started_at=datetime.now(UTC))
    summary.sources.append(SourceReport("[red]desk", "seeds", found=1, new=1))
    summary.alerts.append(
        {
            "id": "a",
            "rule": "r",
            "title": HOSTILE,
            "url": "https://x.test/a",
            "source": "[/]",
            "published_at": None,
            "snippet": "…[/] snippet…",
            "channels": [],
        }
    )
    with cli.out.capture() as captured:
        cli._print_summary(summary)
    printed = " ".join(captured.get().split())
    assert HOSTILE in printed
    assert "[red]desk" in printed and "…[/] snippet…" in printed


def test_alerts_table_prints_titles_literally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlmodel import Session
    from typer.testing import CliRunner

    from alerts import Rule, RuleSet, record_alerts
    from flows import cli
    from flows.cli import app
    from storage import ArticleIn, add_articles, ensure_sources, open_store

    database = tmp_path / "newswatch.db"
    (tmp_path / "newswatch.toml").write_text('[database]\nurl = "sqlite:///newswatch.db"\n')
    engine = open_store(f"sqlite:///{database}")
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("desk", "seeds", "seeds/")])
        article = ArticleIn(
            url="https://x.test/a",
            source="desk",
            title=HOSTILE,
            text="Markets rally despite fears.",
            origin="seed",
        )
        stored = add_articles(session=session, articles=[article], source_ids=ids, run_id=None)
        record_alerts(
            session=session, rules=RuleSet([Rule(name="m", query="markets")]), articles=stored.new
        )
        session.commit()
    engine.dispose()
    monkeypatch.setattr(cli.out, "width", 400)
    config = str(tmp_path / "newswatch.toml")
    result = CliRunner().invoke(app, ["alerts", "list", "--config", config])
    assert result.exit_code == 0, result.output
    assert HOSTILE in result.stdout
    # in 80 columns the id and the time stay whole, on the alert's first line
    monkeypatch.setattr(cli.out, "width", 80)
    narrow = CliRunner().invoke(app, ["alerts", "list", "--config", config]).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert re.search(r"│ [0-9a-f]{12} │ \d{4}-\d{2}-\d{2} \d{2}:\d{2} │", narrow), narrow


def test_export_filters_by_date_and_source_and_db_upgrade_reports_the_revision(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from sqlmodel import Session
    from typer.testing import CliRunner

    from flows.cli import app
    from storage import ArticleIn, add_articles, ensure_sources, open_store, start_run
    from storage.migrate import head_revision

    config = tmp_path / "newswatch.toml"
    config.write_text('[database]\nurl = "sqlite:///newswatch.db"\n')
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    rows = [
        ("a", "desk", datetime(2024, 1, 5, tzinfo=UTC)),
        ("b", "wire", datetime(2025, 3, 1, tzinfo=UTC)),
        ("c", "desk", datetime(2025, 3, 2, tzinfo=UTC)),
    ]
    with Session(engine) as session:
        ids = ensure_sources(
            session=session, sources=[("desk", "seeds", "s/"), ("wire", "feed", "https://w.test/")]
        )
        articles = [
            ArticleIn(
                url=f"https://x.test/{name}",
                source=source,
                title=name,
                text=f"Text of article {name}.",
                origin="seed",
                published_at=when,
            )
            for name, source, when in rows
        ]
        run_id = start_run(session=session).id
        for article in articles:
            by = run_id if article.title == "b" else None
            add_articles(session=session, articles=[article], source_ids=ids, run_id=by)
        session.commit()
    engine.dispose()

    def exported(*args: str) -> list[str]:
        result = CliRunner().invoke(app, ["export", "--config", str(config), *args])
        assert result.exit_code == 0, result.output
        return [json.loads(line)["title"] for line in result.stdout.splitlines()]

    assert exported() == ["a", "b", "c"]
    assert exported("--since", "2025-01-01") == ["b", "c"]
    assert exported("--since", "2025-01-01", "--source", "desk") == ["c"]
    assert exported("--run", str(run_id)) == ["b"]  # the articles that run stored
    assert exported("--until", "2025-03-01") == ["a", "b"]  # a date keeps its whole day
    assert exported("--since", "2025-01-01", "--until", "2025-03-02T00:00") == ["b"]
    late = CliRunner().invoke(app, ["export", "--config", str(config), "--until", "soon"])
    assert late.exit_code == 2 and "--until: 'soon' is not an ISO 8601" in late.stderr
    bad = CliRunner().invoke(app, ["export", "--config", str(config), "--since", "yesterday"])
    assert bad.exit_code == 2
    upgraded = CliRunner().invoke(app, ["db", "upgrade", "--config", str(config)])
    assert upgraded.exit_code == 0
    assert f"schema at {head_revision()}" in upgraded.stdout


def test_db_prune_clears_the_story_index_past_the_window_in_one_go(tmp_path: Path) -> None:
    from datetime import timedelta

    from sqlmodel import Session, func, select
    from typer.testing import CliRunner

    from flows.cli import app
    from storage import ArticleIn, add_articles, ensure_sources, open_store, utcnow
    from storage.models import Article, StorySignature

    config = tmp_path / "newswatch.toml"
    config.write_text('[database]\nurl = "sqlite:///newswatch.db"\n[stories]\nwindow_days = 2\n')
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    now = utcnow()
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("desk", "seeds", "s/")])
        for age, count in ((timedelta(days=3, hours=1), 3), (timedelta(0), 1)):
            articles = [
                ArticleIn(
                    url=f"https://x.test/{age.days}/{n}",
                    source="desk",
                    title=f"t{n}",
                    text=f"Text of article {n} of day {age.days}.",
                    origin="seed",
                )
                for n in range(count)
            ]
            add_articles(
                session=session, articles=articles, source_ids=ids, run_id=None, now=now - age
            )
        session.commit()

    pruned = CliRunner().invoke(app, ["db", "prune", "--config", str(config), "--json"])
    again = CliRunner().invoke(app, ["db", "prune", "--config", str(config)])

    assert pruned.exit_code == 0, pruned.output
    # the config's 2-day window and a day's margin applied; no run is 90 days old
    assert json.loads(pruned.stdout) == {
        "articles_pruned": 3,
        "window_days": 2.0,
        "runs_trimmed": 0,
        "run_details_days": 90,
    }
    assert again.stdout.startswith("story index: the rows of 0 articles stored more than 3 days")
    with Session(engine) as session:
        counted = [
            session.exec(select(func.count()).select_from(table)).one()
            for table in (Article, StorySignature)
        ]
    engine.dispose()
    assert counted == [4, 1]


def test_run_of_an_unknown_source_exits_2_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text('[[sources]]\nname = "dw"\nurls = ["https://dw.example/a"]\n')
    result = newswatch("run", "--config", str(config), "--source", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "'nope'" in result.stderr and "known: dw" in result.stderr


def test_run_naming_a_paused_source_exits_2_saying_it_is_paused(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text('[[sources]]\nname = "dw"\nurls = ["https://dw.example/a"]\npaused = true\n')
    result = newswatch("run", "--config", str(config), "--source", "dw", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"newswatch: error: {config}: sources: 'dw': paused = true, not polled"
        " (`newswatch sources resume dw` polls it again)"
    )


def _alerts_config(tmp_path: Path, hook_url: str, *, extra: str = "") -> Path:
    config = tmp_path / "newswatch.toml"
    config.write_text(
        f"""
[database]
url = "sqlite:///newswatch.db"

[delivery]
max_attempts = 2
backoff = "0s"  # a failed delivery is due again at once

[[rules]]
name = "floods"
query = "floods"
channels = ["hook"]

[[rules]]
name = "harbour"
query = "harbour"
channels = ["hook"]
mode = "digest"
digest = "daily"

[channels.hook]
type = "webhook"
url = "{hook_url}"
{extra}"""
    )
    return config


def _cli(*args: str) -> str:
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_alerts_list_retry_deliver_and_digest_from_the_command_line(
    tmp_path: Path, http_server: LoopbackHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows import cli
    from flows.settings import load_settings
    from storage import open_store
    from tests.alerts.kit import OUTLETS, article, store

    http_server.route("/hook", "down", status=500)
    config = _alerts_config(tmp_path, http_server.url("/hook"))
    rules = load_settings(config).rules
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    copies = [article(name, text, source=name) for name, text in OUTLETS.items()]
    store(engine, copies, rules)
    store(engine, [article("h", "The harbour reopened after the storm.")], rules)
    engine.dispose()
    monkeypatch.setattr(cli.out, "width", 400)
    c = ("--config", str(config))

    (floods,) = [
        a for a in json.loads(_cli("alerts", "list", *c, "--json")) if a["rule"] == "floods"
    ]
    assert [o["source"] for o in floods["outlets"]] == ["gazette", "courier", "herald"]
    assert floods["deliveries"]["hook"]["status"] == "pending"
    first = json.loads(_cli("alerts", "deliver", *c, "--json"))
    last = json.loads(_cli("alerts", "deliver", *c, "--json"))
    assert "attempt 1 of 2" in first["failed"][0]["reason"] and first["dead"] == []
    assert "500" in last["failed"][0]["reason"] and last["dead"][0]["key"] == floods["id"]
    (dead,) = json.loads(_cli("alerts", "list", *c, "--status", "dead", "--json"))
    assert dead["id"] == floods["id"] and dead["deliveries"]["hook"]["attempts"] == 2
    table = _cli("alerts", "list", *c, "--status", "dead")
    assert "hook: dead after 2" in table and "gazette, courier, herald" in table

    http_server.route("/hook", "ok")
    retried = _cli("alerts", "retry", str(dead["deliveries"]["hook"]["id"]), *c)
    assert "re-queued" in retried and f"sent {floods['id']} to hook" in retried
    assert (
        json.loads(_cli("alerts", "list", *c, "--status", "sent", "--json"))[0]["id"]
        == floods["id"]
    )

    held = _cli("alerts", "digest", *c)
    assert "harbour → hook: 1 held for the daily digest" in held and "0 sent" in held
    sent = json.loads(_cli("alerts", "digest", *c, "--now", "--json"))
    assert len(sent["sent"]) == 1 and sent["held"][0]["held"] == 1
    (digest,) = [p for p in http_server.requests_to("/hook", "POST") if b'"digest"' in p.body]
    assert json.loads(digest.body)["alerts"][0]["rule"] == "harbour"


def test_rules_backfill_fires_a_rule_over_stored_history(tmp_path: Path) -> None:
    from datetime import timedelta

    from typer.testing import CliRunner

    from flows.cli import app
    from storage import open_store
    from tests.alerts.kit import T0, article, store

    config = _alerts_config(tmp_path, "http://127.0.0.1:9/hook")
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    old = [
        article(1, "Floods cut the northern railway.", published_at=T0 - timedelta(days=40)),
        article(
            2,
            "Southern farmers count losses from floods.",
            title="Bauern zählen Schäden",
            published_at=T0,
        ),
    ]
    store(engine, old, [])  # stored before any rule existed: nothing fired
    engine.dispose()
    c = ("--config", str(config))

    printed = _cli("rules", "backfill", "floods", *c, "--since", "2026-02-15", "--json")
    fired = json.loads(printed)
    again = json.loads(_cli("rules", "backfill", "floods", *c, "--json"))
    unknown = CliRunner().invoke(app, ["rules", "backfill", "nope", *c])

    assert [f["url"] for f in fired] == ["https://desk.test/2"]
    assert "Bauern zählen Schäden" in printed  # as every --json prints text: unescaped
    assert [f["url"] for f in again] == ["https://desk.test/1"]
    assert len(json.loads(_cli("alerts", "list", *c, "--json"))) == 2
    assert (
        unknown.exit_code == 2 and "unknown rule 'nope' (known: floods, harbour)" in unknown.output
    )


SECRETS = {
    "NEWSWATCH_SMTP_PASSWORD": "smtp-pw-5ecret-81",
    "NEWSWATCH_HOOK_SECRET": "hook-hmac-5ecret-82",
    "NEWSWATCH_APPRISE_URL": "",  # filled in with the receiver's port
}
URL_TOKEN = "url-token-5ecret-83"
APPRISE_PASSWORD = "apprise-pw-5ecret-84"
FEED_PASSWORD = "feed-pw-5ecret-85"


@pytest.mark.flow
def test_no_secret_reaches_run_output_logs_alert_lists_or_delivery_errors(
    tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer
) -> None:
    """Every channel fails, each with its secrets in its config, and the receivers echo
    them back; none of them may show up anywhere newswatch writes."""
    import sqlite3

    port = http_server.base_url.rsplit(":", 1)[1]
    echo = " ".join([URL_TOKEN, APPRISE_PASSWORD, *SECRETS.values()]).encode()
    http_server.sequence("/hook", [Response(500, echo)])
    http_server.sequence("/apprise", [Response(500, echo)])
    http_server.route("/private-feed", b"gone", status=404)
    feed = f"http://reader:{FEED_PASSWORD}@127.0.0.1:{port}/private-feed"  # basic auth
    env = {
        **SECRETS,
        "NEWSWATCH_APPRISE_URL": f"json://bot:{APPRISE_PASSWORD}@127.0.0.1:{port}/apprise",
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    secrets = [
        URL_TOKEN,
        APPRISE_PASSWORD,
        FEED_PASSWORD,
        *(v for v in env.values() if "5ecret" in v),
    ]
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "launchers.txt").write_text(
        "date 2025-03-12\nMinistry orders more missile launchers\n\n"
        "The defence ministry ordered more mobile missile launchers after the exercise.\n"
    )
    config = _alerts_config(
        tmp_path,
        http_server.url(f"/hook?token={URL_TOKEN}"),
        extra=f"""secret = "env:NEWSWATCH_HOOK_SECRET"
{desk_channel(smtp_server.port)}username = "bot"

[channels.team]
type = "apprise"
url = "env:NEWSWATCH_APPRISE_URL"

[[sources]]
name = "desk-seeds"
seeds = "seeds/"

[fetch]
allow_networks = ["127.0.0.0/8"]

[[sources]]
name = "private"
feed = "{feed}"

[[rules]]
name = "launchers"
query = '"missile launcher"'
channels = ["hook", "desk", "team"]
""",
    )

    outputs = []
    commands = [("run",), ("run", "--json"), ("alerts", "list", "--json"), ("alerts", "list")]
    for args in [*commands, ("sources", "list"), ("sources", "list", "--json")]:
        result = newswatch(*args, "--config", str(config), cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    for args in [("alerts", "test"), ("alerts", "test", "--json")]:  # every channel fails
        result = newswatch(*args, "--config", str(config), cwd=tmp_path, env=env)
        assert result.returncode == 1, result.stderr
        assert result.stdout.count("****") >= 3, result.stdout  # each target masked
        outputs += [result.stdout, result.stderr]
    with sqlite3.connect(tmp_path / "newswatch.db") as db:
        errors = [row[0] for row in db.execute("SELECT last_error FROM deliveries") if row[0]]
        summaries = [row[0] for row in db.execute("SELECT summary FROM runs")]
        feed_error = db.execute("SELECT last_error FROM sources WHERE name = 'private'").fetchone()

    assert len(errors) == 3 and len(summaries) == 2
    reasons = " ".join(errors)
    assert "500" in reasons and "SMTP" in reasons and "json://bot:****@" in reasons
    assert "reader:****@" in feed_error[0] and "404" in feed_error[0]
    errors.append(feed_error[0])
    everything = "\n".join(outputs + errors + summaries)
    assert "missile launchers" in everything and "delivery" in everything
    for secret in secrets:
        assert secret not in everything, secret


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[[sources]]\nname = "w"\nfeed = "https://w.test/f"\nbackfill = "yesterday"',
            "sources[0].backfill: 'yesterday' is not a duration like 30m, 24h or 7d",
        ),
        (
            '[[sources]]\nname = "s"\nseeds = "seeds/"\nbackfill = "24h"',
            "sources[0]: backfill: seeds sources always alert",
        ),
        (
            '[[rules]]\nname = "r"\nquery = "x"\ndigest = "hourly"',
            'rules[0].digest: needs mode = "digest" too',
        ),
        ('[[rules]]\nname = "r"\nquery = "x"\nmode = "weekly"', "rules[0].mode: must be immediate"),
        ('[[rules]]\nname = "r"\nquery = "x"\nstorm_limit = 0', "rules[0].storm_limit: Input"),
        ('[delivery]\nbackoff = "soon"', "delivery.backoff: 'soon' is not a duration"),
        ('[delivery]\ntemplates = "missing/"', "delivery.templates: "),
        (
            f'[channels.team]\ntype = "apprise"\nurl = "slack://{APPRISE_PASSWORD}"',
            "channels.team.url: apprise does not recognise this slack:// URL",
        ),
    ],
)
def test_alert_settings_errors_are_one_line_naming_the_key(
    tmp_path: Path, toml: str, message: str
) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    config = tmp_path / "newswatch.toml"
    config.write_text(toml + "\n")
    result = CliRunner().invoke(app, ["alerts", "list", "--config", str(config)])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"newswatch: error: {config}: {message}"), line
    assert APPRISE_PASSWORD not in line


def test_run_summary_prints_the_first_alerts_and_failures_and_says_where_the_rest_are() -> None:
    from datetime import UTC, datetime

    from flows import cli
    from flows.pipeline import Failure
    from flows.summary import RunSummary, SourceReport

    summary = RunSummary(run_id=7, started_at=datetime.now(UTC))
    summary.sources.append(SourceReport("regional-desk-and-wires", "feed", found=30, new=25))
    summary.alerts += [
        {
            "id": f"a{n}",
            "rule": "floods",
            "title": f"Flood story {n}",
            "url": f"https://x.test/{n}",
            "source": "regional-desk-and-wires",
            "published_at": None,
            "snippet": "…the river rose…",
            "channels": ["desk"],
        }
        for n in range(cli.PRINTED_ROWS + 5)
    ]
    summary.failures += [
        Failure("regional-desk-and-wires", f"https://x.test/gone/{n}", "HTTP 404")
        for n in range(cli.PRINTED_ROWS + 1)
    ]
    with cli.out.capture() as captured:
        cli._print_summary(summary)
    printed = captured.get()

    assert printed.count("ALERT floods") == cli.PRINTED_ROWS
    assert "… and 5 more alerts: `newswatch alerts list --run 7` lists them all" in printed
    assert printed.count("failed regional-desk-and-wires") == cli.PRINTED_ROWS
    assert "… and 1 more failure: `newswatch runs show 7` lists them all" in printed
    assert "25 alerts, 0 deliveries sent" in printed and "21 failures" in printed
    # the source's name is wrapped in its column, never cut short
    assert "regional-desk-and-wires" in "".join(printed.replace("│", "").split())


def test_run_summary_counts_read_as_english_for_one() -> None:
    from datetime import UTC, datetime

    from flows import cli
    from flows.summary import RunSummary

    summary = RunSummary(run_id=1, started_at=datetime.now(UTC))
    summary.alerts.append(
        {
            "id": "a",
            "rule": "r",
            "title": "t",
            "url": "https://x.test/a",
            "source": "desk",
            "published_at": None,
            "snippet": "s",
            "channels": [],
        }
    )
    summary.deliveries = {"sent": 1, "pending": 0}
    with cli.out.capture() as captured:
        cli._print_summary(summary)
    assert "0 duplicates, 0 already stored, 1 alert, 1 delivery sent" in captured.get()


def test_run_prints_an_alerts_wrapped_snippet_indented_under_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime

    from flows import cli
    from flows.summary import RunSummary

    summary = RunSummary(run_id=1, started_at=datetime.now(UTC))
    snippet = " ".join(["launchers on parade"] * 20)
    summary.alerts.append(
        {
            "id": "a",
            "rule": "missiles",
            "title": "Ministry orders launchers",
            "url": "https://x.test/a",
            "source": "desk",
            "published_at": None,
            "snippet": snippet,
            "channels": [],
        }
    )
    monkeypatch.setattr(cli.out, "width", 80)
    with cli.out.capture() as captured:
        cli._print_summary(summary)
    lines = captured.get().splitlines()

    first = next(n for n, line in enumerate(lines) if line.startswith("ALERT missiles"))
    totals = next(n for n, line in enumerate(lines) if line.startswith("0 new"))
    url, *wrapped = lines[first + 1 : totals]
    assert url.strip() == "https://x.test/a  (desk, date unknown; no channels)"
    assert len(wrapped) > 1 and all(line[:2] == "  " != line[2] for line in wrapped), wrapped
    assert " ".join(" ".join(wrapped).split()) == snippet


def test_help_shows_flags_without_a_value_placeholder() -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    shown = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "100"})
    assert shown.exit_code == 0, shown.output
    flags = [
        line for line in shown.output.splitlines() if line.startswith(("│ --json", "│ --help"))
    ]
    assert len(flags) == 2, shown.output
    assert not any("<bool>" in line for line in flags), flags  # flags take no value


def test_every_command_is_listed_in_help_on_one_line() -> None:
    """`newswatch --help` lists each command with its docstring's first paragraph, line
    breaks kept: one that wrapped in the source wrapped mid-sentence in the list."""
    import typer.main

    from flows.cli import app

    def commands(group: object, path: str = "") -> dict[str, str]:
        listed = {}
        for name, command in getattr(group, "commands", {}).items():
            listed[path + name] = (command.help or "").split("\n\n")[0].strip()
            listed |= commands(command, f"{path}{name} ")
        return listed

    listed = commands(typer.main.get_command(app))
    assert "stories" in listed and "alerts test" in listed
    assert {name: line for name, line in listed.items() if "\n" in line or not line} == {}


def test_alerts_test_sends_each_channel_a_test_alert_and_names_the_one_that_failed(
    tmp_path: Path, smtp_server: LoopbackSMTPServer, http_server: LoopbackHTTPServer
) -> None:
    http_server.route("/hook", "ok")
    http_server.route("/down", "no", status=500)
    config = _alerts_config(
        tmp_path,
        http_server.url("/hook"),
        extra=f"""{desk_channel(smtp_server.port)}
[channels.down]
type = "webhook"
url = "{http_server.url("/down")}"
""",
    )
    c = ("--config", str(config))

    result = newswatch("alerts", "test", *c, cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(" (")[0] for line in lines] == ["sent desk", "failed down", "sent hook"]
    assert lines[1].endswith("answered 500 Internal Server Error")
    (mail,) = smtp_server.messages
    assert "Test alert from newswatch for channel desk" in mail["Subject"]
    (post,) = http_server.requests_to("/hook", "POST")
    assert json.loads(post.body)["rule"] == "newswatch-test"
    # one channel by name, for machines; nothing was stored or queued
    chosen = newswatch("alerts", "test", "hook", "--json", *c, cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    (report,) = json.loads(chosen.stdout)
    assert (report["channel"], report["error"]) == ("hook", None)
    assert len(http_server.requests_to("/hook", "POST")) == 2
    assert json.loads(_cli("alerts", "list", *c, "--json")) == []
    unknown = newswatch("alerts", "test", "pager", *c, cwd=tmp_path)
    assert unknown.returncode == 2
    assert "unknown channel 'pager' (known: desk, down, hook)" in unknown.stderr
