"""The soak's generated site: what each run publishes, and a loopback server for it.

    with loopback_site(plan, anchor) as site:
        site.publish(run)              # the run's new entries go up on every feed
        received = site.received()     # the webhook POSTs and page requests so far

See `benchmarks.soak` for how the runs use it.
"""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

import psutil

FEED_WINDOW = 20  # entries a feed lists: its newest
SITE_TIMEOUT = 300  # seconds the loopback server may take to publish a run's pages


# --- what is published, and what must come out of it --------------------------------


@dataclass(frozen=True)
class Plan:
    """`articles` spread over `runs` (in order of number) and `feeds` (round robin)."""

    feeds: int
    articles: int
    runs: int
    window: int = FEED_WINDOW

    def end(self, run: int) -> int:
        """One past the last article published by run `run` (0-based)."""
        return min(self.articles, -(-(run + 1) * self.articles // self.runs))

    def new_in(self, run: int) -> range:
        return range(self.end(run - 1) if run else 0, self.end(run))

    def feed_entries(self, feed: int, run: int) -> list[int]:
        """The articles feed `feed` lists in run `run`, newest first."""
        return list(range(feed, self.end(run), self.feeds))[::-1][: self.window]


@dataclass(frozen=True)
class Topic:
    """A sentence that pages `number % every == rest` carry."""

    every: int
    rest: int
    sentence: str

    def on(self, number: int) -> bool:
        return number % self.every == self.rest


TOPICS = {
    "cranes": Topic(10, 1, "Three new harbour cranes were unloaded at the quay of {place}."),
    "grain": Topic(25, 7, "Grain exports through {place} rose for the third month in a row."),
    "drone": Topic(12, 5, "A drone circled over {place} for most of the afternoon."),
    "parade": Topic(24, 5, "Police said the flight over {place} had been cleared for the parade."),
}


@dataclass(frozen=True)
class SoakRule:
    name: str
    query: str
    fires: Callable[[set[str]], bool]  # on a page's topics


RULES = (
    SoakRule("harbour-cranes", '"harbour crane"', lambda topics: "cranes" in topics),
    SoakRule("grain-exports", "grain NEAR/3 export*", lambda topics: "grain" in topics),
    SoakRule(
        "drones", "drone -parade", lambda topics: "drone" in topics and "parade" not in topics
    ),
    SoakRule("zeppelins", "zeppelin", lambda topics: False),
)


def topics(number: int) -> set[str]:
    return {name for name, topic in TOPICS.items() if topic.on(number)}


def expected_alerts(plan: Plan, base_url: str) -> set[tuple[str, str]]:
    """(rule, article URL) for every alert the soak must fire: each page is its own story."""
    return {
        (rule.name, base_url + article_path(plan, number))
        for number in range(plan.articles)
        for rule in RULES
        if rule.fires(topics(number))
    }


# --- the pages and feeds --------------------------------------------------------------

_WORDS = [
    "the", "of", "and", "in", "to", "a", "on", "for", "with", "at", "by", "from", "said",
    "was", "were", "after", "before", "that", "which", "their", "new", "two", "last", "week",
]  # fmt: skip
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
_BANNED = {"parade", "zeppelin"}  # pseudo-words that rule terms could match


def _vocabulary(size: int = 3000) -> list[str]:
    rng = random.Random(1)
    words: set[str] = set()
    while len(words) < size:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3, 3, 4))))
        if word not in _BANNED:
            words.add(word)
    return sorted(words)


VOCABULARY = _vocabulary()
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title} | Loopback Herald</title><meta name="description" content="{lede}">
<meta property="og:title" content="{title}"><meta name="author" content="{author}">
<meta property="article:published_time" content="{published}"></head><body>
<header><a href="/">Loopback Herald</a><nav><a href="/world/">World</a>
<a href="/business/">Business</a> <a href="/sport/">Sport</a></nav></header>
<main><article><h1>{title}</h1><p class="byline">By {author}, {day}</p>
{paragraphs}</article></main>
<footer><a href="/about/">About us</a> <a href="/contact/">Contact</a></footer></body></html>
"""


def _sentence(rng: random.Random) -> str:
    words = [
        rng.choice(_WORDS) if rng.random() < 0.3 else rng.choice(VOCABULARY)
        for _ in range(rng.randint(8, 18))
    ]
    return " ".join(words).capitalize() + "."


def _name(rng: random.Random) -> str:
    return rng.choice(VOCABULARY).capitalize()


def article_path(plan: Plan, number: int) -> str:
    return f"/news/f{number % plan.feeds:04d}/{number:06d}-report.html"


def published(anchor: datetime, plan: Plan, number: int) -> datetime:
    """Distinct, recent, in the order of publication."""
    return anchor - timedelta(seconds=plan.articles - number)


def headline(number: int) -> str:
    rng = random.Random(f"title-{number}")
    return f"{_name(rng)} {rng.choice(VOCABULARY)} {rng.choice(VOCABULARY)}, report {number}"


def article_page(number: int, when: datetime) -> str:
    """Page `number`: 3-5 paragraphs of its own prose, with its topics' sentences."""
    rng = random.Random(number)
    place, author = _name(rng), f"{_name(rng)} {_name(rng)}"
    paragraphs = [[_sentence(rng) for _ in range(rng.randint(3, 5))] for _ in range(3)]
    for index, name in enumerate(sorted(topics(number))):
        paragraphs[index % 3].insert(1, TOPICS[name].sentence.format(place=place))
    return PAGE.format(
        title=headline(number),
        lede=paragraphs[0][0],
        author=author,
        published=when.isoformat(),
        day=when.strftime("%d %B %Y"),
        paragraphs="\n".join(f"<p>{' '.join(p)}</p>" for p in paragraphs),
    )


def feed_xml(plan: Plan, feed: int, run: int, *, base_url: str, anchor: datetime) -> str:
    items = "".join(
        f"<item><title>{escape(headline(n))}</title><link>{base_url}{article_path(plan, n)}</link>"
        f'<guid isPermaLink="false">soak-{n}</guid>'
        f"<pubDate>{format_datetime(published(anchor, plan, n))}</pubDate></item>"
        for n in plan.feed_entries(feed, run)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Loopback feed {feed}</title><link>{base_url}/</link>{items}</channel></rss>"
    )


# --- the loopback server, in a process of its own -------------------------------------


@dataclass(frozen=True)
class Received:
    """What the server saw: requests per article page, webhook POSTs per idempotency key."""

    page_requests: Counter[str]
    keys: Counter[str]


def _serve(plan: Plan, anchor: datetime, connection: Any) -> None:
    from tests.servers import LoopbackHTTPServer

    server = LoopbackHTTPServer().start()
    server.route("/hook", "ok", content_type="text/plain")
    connection.send(server.base_url)
    while True:
        command, run = connection.recv()
        if command == "publish":
            for number in plan.new_in(run):
                when = published(anchor, plan, number)
                server.route(article_path(plan, number), article_page(number, when))
            for feed in range(plan.feeds):
                xml = feed_xml(plan, feed, run, base_url=server.base_url, anchor=anchor)
                server.route(f"/feeds/{feed:04d}.xml", xml, content_type="application/rss+xml")
            connection.send(None)
        elif command == "received":
            pages = Counter(r.path for r in list(server.requests) if r.path.startswith("/news/"))
            hooks = server.requests_to("/hook", "POST")
            keys = Counter(r.headers.get("idempotency-key", "") for r in hooks)
            connection.send(Received(pages, keys))


@dataclass
class LoopbackSite:
    """The soak's server process: `publish(run)` puts run `run`'s entries in the feeds."""

    base_url: str
    pid: int
    _connection: Any

    def publish(self, run: int) -> None:
        self._ask("publish", run)

    def received(self) -> Received:
        return self._ask("received", None)

    def _ask(self, command: str, argument: Any) -> Any:
        self._connection.send((command, argument))
        return _answer(self._connection)

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system


def _answer(connection: Any, *, timeout: float = SITE_TIMEOUT) -> Any:
    if not connection.poll(timeout):
        raise RuntimeError(f"the loopback server did not answer within {timeout:g} s")
    try:
        return connection.recv()
    except EOFError:
        raise RuntimeError("the loopback server process died") from None


@contextmanager
def loopback_site(plan: Plan, anchor: datetime) -> Iterator[LoopbackSite]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(plan, anchor, child), daemon=True)
    process.start()
    child.close()  # so that a server process that dies is an EOFError here, not a hang
    try:
        yield LoopbackSite(_answer(parent), process.pid or 0, parent)
    finally:
        process.terminate()
        process.join()
