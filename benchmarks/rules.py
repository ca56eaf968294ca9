"""Rule matching throughput: one `RuleSet` pass against one Python regex per rule.

    python -m benchmarks.rules [--articles 10000] [--rules 1000 10000] [--baseline-articles 100]
                               [--explained-articles 1000]

Loads the annotated article bodies of ../shared/corpus/articles (titles from
the pages' <title>, else the body's first line) and generates rules from them
with a fixed seed, in a realistic mix: quoted phrases, single words (mostly
names), AND, OR, NOT, prefixes (`sanction*`) and NEAR, about words that occur
in at most 2% of the articles. Two scenarios per rule count:

  unseen  rules drawn from half the articles, matched against the other half
          replicated to `--articles`: rules about other stories, the usual case;
  seen    rules drawn from the very articles they are matched against, so each
          article is the source of 1/181 of the rules: a stress case.

Times, in CPU seconds of this process (steady under a loaded machine):

  newswatch  `RuleSet(rules)`, then per article `Document.of` (tokenising
             included) and `RuleSet.matches`: which rules fire, each with a
             `Match` that works out its terms, spans and snippet when read
             (most matches of a run never become an alert, see alerts.match);
  explained  the same over the first `--explained-articles` articles, reading
             every match's snippet, as if each one became an alert;
  baseline   one compiled `re` per rule, case-insensitive, with word
             boundaries, plural/possessive endings, alternation for OR and
             lookaheads for AND and NOT, searched over the title and text. It is
             slow, so it runs on the first `--baseline-articles` articles only.

Prints parse and build times, matches per article, articles/s of each and
the ratio of newswatch to the baseline. Goal: 10,000 rules at >= 1,000
articles/s on one core. The whole run takes about five minutes, most of it the
regex baseline.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from alerts import Document, Rule, RuleSet
from alerts.query import And, Near, Node, Not, Or, Term

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "articles"
GOAL = 1_000
RARE = 0.02  # a rule's keywords occur in at most this share of the articles
NAMES = 0.7  # the share of keywords that are capitalised: names, places, organisations
_WORD = re.compile(r"\b[A-Za-zÀ-ÿ]{3,20}\b")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_STOPWORDS = """the and for that with this from have was were are has had not but its his her
their they you our who which what when will would could should been also into than then there
these those said more most some such only over about after before can may"""
STOPWORDS = frozenset(_STOPWORDS.split())


@dataclass(frozen=True)
class Article:
    title: str
    text: str
    site: str


def load_articles(root: Path) -> list[Article]:
    truth = json.loads((root / "ground-truth.json").read_text())
    articles = []
    for key, item in sorted(truth.items()):
        body = item["articleBody"]
        page = root / f"{key}.html.gz"
        found = _TITLE.search(gzip.decompress(page.read_bytes())) if page.exists() else None
        title = html.unescape(found.group(1).decode("utf-8", "replace")).strip() if found else ""
        title = " ".join(title.split()) or body.strip().split("\n", 1)[0]
        articles.append(Article(title, body, urlsplit(item["url"]).hostname or ""))
    return articles


def generate_queries(articles: list[Article], count: int, *, seed: int = 7) -> list[str]:
    """`count` distinct rule queries drawn from the articles' words."""
    rng = random.Random(seed)
    texts = [_WORD.findall(a.text) for a in articles]
    texts = [words for words in texts if len(words) > 20]
    frequency = Counter(w.lower() for words in texts for w in set(words))
    queries: set[str] = set()
    while len(queries) < count:
        words = rng.choice(texts)
        queries.add(_one_query(rng, words, frequency, len(texts)))
    return sorted(queries)


def _one_query(rng: random.Random, words: list[str], frequency: Counter[str], docs: int) -> str:
    """One rule as a desk would write it: about names, places and specific terms,
    words found in at most `RARE` of the articles (capitalised ones for a `NAMES`
    share of the keywords), alone, in a phrase, or combined."""

    def rare(word: str) -> bool:
        return word.lower() not in STOPWORDS and frequency[word.lower()] <= max(docs * RARE, 1)

    keywords = [word for word in words if rare(word)] or words
    names = [word for word in keywords if word[0].isupper()] or keywords
    starts = [n for n in range(len(words) - 6) if rare(words[n])] or [0]

    def phrase(size: int) -> str:
        start = rng.choice(starts) - rng.randrange(size)
        start = min(max(start, 0), len(words) - size)
        return '"' + " ".join(words[start : start + size]) + '"'

    def keyword() -> str:
        return rng.choice(names if rng.random() < NAMES else keywords)

    kind = rng.random()
    if kind < 0.35:
        return phrase(rng.choice((2, 2, 3)))
    if kind < 0.55:
        return keyword()
    if kind < 0.70:
        return f"{keyword()} {rng.choice((keyword(), phrase(2)))}"
    if kind < 0.80:
        return " OR ".join(keyword() for _ in range(rng.randint(2, 4)))
    if kind < 0.87:
        return f"{phrase(2)} -{keyword()}"
    if kind < 0.93:
        word = max((keyword() for _ in range(5)), key=len)
        return word[: max(6, len(word) - 3)] + "*"  # a stem: sanction* for sanctioned
    start = rng.choice(starts)
    return f"{words[start]} NEAR/5 {rng.choice(words[start + 2 : start + 7])}"


def baseline_regex(node: Node) -> str:
    """A regex that means about what `node` means, for the baseline."""
    if isinstance(node, Term):
        return _term_regex(node)
    if isinstance(node, Near):
        a, b, gap = _term_regex(node.left), _term_regex(node.right), node.distance
        return f"(?:{a}\\W+(?:\\w+\\W+){{0,{gap}}}?{b}|{b}\\W+(?:\\w+\\W+){{0,{gap}}}?{a})"
    if isinstance(node, Or):
        return "(?:" + "|".join(baseline_regex(child) for child in node.children) + ")"
    if isinstance(node, And):
        return "^" + "".join(_lookahead(child) for child in node.children)
    if isinstance(node, Not):
        return f"^(?![\\s\\S]*?{baseline_regex(node.child)})"
    raise TypeError(f"no baseline for {node!r}")


def _lookahead(node: Node) -> str:
    if isinstance(node, Not):
        return f"(?![\\s\\S]*?{baseline_regex(node.child)})"
    return f"(?=[\\s\\S]*?{baseline_regex(node)})"


def _term_regex(term: Term) -> str:
    words = [re.escape(word) for word in term.pattern.words]
    if term.pattern.prefix:
        words[-1] += r"\w*"
    else:
        words[-1] += r"(?:s|es|'s)?"
    return r"\b" + r"[\s\-]+".join(words) + r"\b"


@dataclass(frozen=True)
class Timing:
    build: float
    seconds: float
    articles: int
    matches: int

    @property
    def rate(self) -> float:
        return self.articles / self.seconds


def time_ruleset(
    rules: list[Rule], articles: list[Article], *, explained: int
) -> tuple[Timing, Timing]:
    """Matching `articles`; and matching the first `explained` of them, every match read."""
    started = time.process_time()
    ruleset = RuleSet(rules)
    build = time.process_time() - started
    return (
        _time_matching(ruleset, articles, build=build, read=False),
        _time_matching(ruleset, articles[:explained], build=build, read=True),
    )


def _time_matching(
    ruleset: RuleSet, articles: list[Article], *, build: float, read: bool
) -> Timing:
    matches = 0
    started = time.process_time()
    for article in articles:
        document = Document.of(title=article.title, text=article.text, site=article.site)
        found = ruleset.matches(document)
        matches += len(found)
        for _, match in found if read else ():
            _ = match.snippet  # the terms, spans and snippet an alert records
    return Timing(build, time.process_time() - started, len(articles), matches)


def time_regexes(rules: list[Rule], articles: list[Article]) -> Timing:
    started = time.process_time()
    patterns = [re.compile(baseline_regex(rule.compiled.root), re.IGNORECASE) for rule in rules]
    build = time.process_time() - started
    matches = 0
    started = time.process_time()
    for article in articles:
        document = article.title + "\n" + article.text
        matches += sum(1 for pattern in patterns if pattern.search(document))
    return Timing(build, time.process_time() - started, len(articles), matches)


@dataclass(frozen=True)
class Scenario:
    """Which articles the rules are drawn from, and which they are matched against."""

    name: str
    rules_from: list[Article]
    matched: list[Article]


def scenarios(corpus: list[Article], articles: int) -> list[Scenario]:
    """`unseen`: rules drawn from half the articles, matched against the other half, as
    rules written about other stories are; `seen`: drawn from the very articles they
    are matched against, so each article fires about 1/181 of the rules (a stress case)."""
    others = corpus[1::2]
    return [
        Scenario("unseen", corpus[::2], [others[n % len(others)] for n in range(articles)]),
        Scenario("seen", corpus, [corpus[n % len(corpus)] for n in range(articles)]),
    ]


def compare(
    corpus: list[Article], *, articles: int, counts: list[int], sample: int, explained: int
) -> None:
    print(
        f"{articles:,} articles matched, tokenising included; explained: the first "
        f"{explained:,} with every match's snippet read; the regex baseline on the first "
        f"{sample}; CPU seconds of this process"
    )
    print(
        f"{'rules':>7} {'articles':<9}{'parse s':>8}{'build s':>8}{'matches/art':>12}"
        f"{'newswatch/s':>12}{'explained/s':>12}{'regex/s':>9}{'ratio':>7}{'regex build s':>14}"
    )
    for count in counts:
        for scenario in scenarios(corpus, articles):
            queries = generate_queries(scenario.rules_from, count)
            started = time.process_time()
            rules = [Rule(name=f"rule-{n}", query=query) for n, query in enumerate(queries)]
            parse = time.process_time() - started
            ours, read = time_ruleset(rules, scenario.matched, explained=explained)
            theirs = time_regexes(rules, scenario.matched[:sample])
            verdict = "meets" if ours.rate >= GOAL else "misses"
            print(
                f"{count:>7,} {scenario.name:<9}{parse:>8.2f}{ours.build:>8.2f}"
                f"{ours.matches / ours.articles:>12.1f}{ours.rate:>12,.0f}{read.rate:>12,.0f}"
                f"{theirs.rate:>9,.1f}{ours.rate / theirs.rate:>6,.0f}x{theirs.build:>14.2f}"
                f"  {verdict} {GOAL:,}/s"
            )
    print("parse: building the Rules; build: RuleSet(rules), or compiling the regexes")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rules", description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--rules", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--baseline-articles", type=int, default=100)
    parser.add_argument("--explained-articles", type=int, default=1_000)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    if not (args.corpus / "ground-truth.json").exists():
        parser.exit(1, f"{args.corpus}: no ground-truth.json, the article corpus is absent\n")
    corpus = load_articles(args.corpus)
    sample = min(args.baseline_articles, args.articles)
    explained = min(args.explained_articles, args.articles)
    compare(corpus, articles=args.articles, counts=args.rules, sample=sample, explained=explained)


if __name__ == "__main__":
    main()
