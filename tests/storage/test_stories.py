"""Same story: MinHash fingerprints, story assignment on both backends, the syndication set."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from storage.articles import ensure_sources
from storage.dedup import add_articles
from storage.fingerprints import text_hash
from storage.models import Article, Story, StoryBand, StorySignature
from storage.schemas import ArticleIn
from storage.stories import StoryOptions, estimate_jaccard, fingerprint, prepare
from storage.story_index import (
    PRUNE_MARGIN,
    attach_articles,
    place_in_stories,
    prune_story_index,
    story_outlets,
)
from tests.conftest import CORPUS, shared_path

OPTIONS = StoryOptions()
T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)

WIRE = (
    "Rescue teams in the northern province worked through the night on Tuesday to reach "
    "villages cut off by floods after the river burst its banks, officials said. At least "
    "twelve people were reported missing and several thousand had left their homes, the "
    "regional governor told reporters at an emergency shelter set up in a school gym. "
    "Helicopters dropped food and drinking water to families stranded on rooftops, while "
    "army engineers tried to shore up a damaged bridge on the main road to the capital. "
    "Forecasters warned that more heavy rain was expected later in the week."
)
OTHER = (
    "The central bank left its benchmark interest rate unchanged on Thursday, saying that "
    "inflation had eased more slowly than expected over the summer and that wage growth "
    "remained strong. Two members of the monetary policy committee voted for a cut. The "
    "currency rose against the dollar after the announcement, and bond yields edged higher "
    "as traders pushed back their bets on the timing of the first reduction next year."
)
HEADER = "The Valley Gazette. Skip to main content. Subscribe for unlimited digital access."
FOOTER = (
    "Copyright 2024 The Valley Gazette. All rights reserved. Sign up for our morning "
    "newsletter to get the top stories delivered to your inbox every day."
)


@pytest.mark.parametrize(
    ("left", "right", "low", "high"),
    [
        (WIRE, WIRE, 1.0, 1.0),
        (WIRE, WIRE.upper().replace(",", " ;"), 1.0, 1.0),  # normalised before shingling
        (WIRE, f"{HEADER}\n\n{WIRE}\n\n{FOOTER}", 0.6, 0.95),
        (WIRE, OTHER, 0.0, 0.1),
        ("Floods.", "floods", 1.0, 1.0),  # shorter than a shingle
        ("Floods.", "Drought.", 0.0, 0.1),
        ("", "", 1.0, 1.0),
    ],
)
def test_fingerprint_estimates_how_much_two_texts_share(
    left: str, right: str, low: float, high: float
) -> None:
    estimate = estimate_jaccard(
        fingerprint(left, options=OPTIONS).signature, fingerprint(right, options=OPTIONS).signature
    )
    assert low <= estimate <= high


def test_fingerprint_has_one_value_per_permutation_and_one_bigint_key_per_band() -> None:
    fp = fingerprint(WIRE, options=OPTIONS)
    assert len(fp.signature) == 4 * OPTIONS.num_perm
    assert len(fp.bands) == OPTIONS.bands
    assert all(0 <= key < 2**63 for key in fp.bands)
    assert [key >> 56 for key in fp.bands] == list(range(OPTIONS.bands))


def test_fingerprint_is_the_same_in_another_process() -> None:
    """Signatures are persisted, so a fresh interpreter must compute the very same one."""
    code = (
        "import sys; from storage.stories import fingerprint, StoryOptions; "
        "fp = fingerprint(sys.argv[1], options=StoryOptions()); "
        "print(fp.signature.hex(), *fp.bands)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code, WIRE],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout.split()
    fp = fingerprint(WIRE, options=OPTIONS)
    assert output == [fp.signature.hex(), *map(str, fp.bands)]


def test_fingerprint_is_the_same_after_an_upgrade() -> None:
    """Pinned values: a datasketch or numpy upgrade that reseeds would orphan the stored index."""
    fp = fingerprint("Rescue teams reached the villages", options=OPTIONS)
    assert fp.signature[:16].hex() == "0b99fc0224871d3b9bc0de44e5cf810c"
    assert fp.bands[0] == 43841083920944292


@pytest.mark.parametrize(
    "fields",
    [{"threshold": 0.0}, {"threshold": 1.5}, {"bands": 0}, {"bands": 65}, {"shingle": 0}],
)
def test_story_options_refuse_settings_that_cannot_work(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        StoryOptions(**fields)  # type: ignore[arg-type]


# --- story assignment, each test on SQLite and PostgreSQL ---------------------------


def store(
    session: Session,
    text: str,
    *,
    source: str = "wire",
    now: datetime = T0,
    title: str = "A title",
    options: StoryOptions = OPTIONS,
) -> tuple[int, int, bool]:
    """What `add_articles` does for a batch of one new article: (article id, story id,
    story created)."""
    fp = fingerprint(text, options=options)
    (placed,) = place_in_stories(session=session, entries=[(fp, title)], now=now, options=options)
    article_id = new_article(
        session, text, story_id=placed.story_id, source=source, title=title, now=now
    )
    attach_articles(session=session, placed=[placed], article_ids=[article_id], now=now)
    return article_id, placed.story_id, placed.created


def new_article(
    session: Session,
    text: str,
    *,
    story_id: int,
    source: str = "wire",
    title: str = "t",
    now: datetime = T0,
) -> int:
    """A bare article row in `story_id`, as `add_articles` inserts it: its id."""
    source_id = ensure_sources(session=session, sources=[(source, "feed", f"https://{source}/")])
    article = Article(
        source_id=source_id[source],
        url=f"https://{source}/{uuid.uuid4().hex}",
        canonical_url=f"https://{source}/{uuid.uuid4().hex}",
        title=title,
        text=text,
        text_hash=uuid.uuid4().hex,
        origin="feed",
        fetched_at=now,
        story_id=story_id,
    )
    session.add(article)
    session.flush()
    assert article.id is not None
    return article.id


def test_copy_with_other_boilerplate_joins_the_story_and_names_both_outlets(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        _, first, created = store(session, WIRE, source="wire")
        _, second, joined_new = store(session, f"{HEADER}\n\n{WIRE}\n\n{FOOTER}", source="gazette")
        _, third, _ = store(session, WIRE.replace("twelve", "ten"), source="wire")
        session.commit()
        assert (created, joined_new) == (True, False)
        assert first == second == third
        assert story_outlets(session=session, story_id=first) == ["wire", "gazette"]


def test_unrelated_article_starts_a_story_of_its_own(engine: Engine) -> None:
    with Session(engine) as session:
        _, first, _ = store(session, WIRE)
        _, second, created = store(session, OTHER)
        assert created
        assert first != second


@pytest.mark.parametrize(
    ("later", "same_story"),
    [
        (timedelta(hours=3), True),
        (timedelta(days=6, hours=23), True),
        (timedelta(days=7, minutes=1), False),  # the original is out of the window
    ],
)
def test_only_articles_inside_the_window_are_candidates(
    engine: Engine, later: timedelta, same_story: bool
) -> None:
    with Session(engine) as session:
        _, first, _ = store(session, WIRE, now=T0)
        _, second, _ = store(session, f"{WIRE}\n\n{FOOTER}", now=T0 + later)
        assert (first == second) is same_story


def test_story_records_its_first_article_count_and_last_sighting(engine: Engine) -> None:
    with Session(engine) as session:
        first_article, story_id, _ = store(session, WIRE, now=T0, title="Floods cut off villages")
        store(session, f"{WIRE} {FOOTER}", now=T0 + timedelta(hours=5), source="gazette")
        store(session, f"{HEADER} {WIRE}", now=T0 + timedelta(hours=2), source="herald")
        session.commit()
        story = session.get(Story, story_id)
        assert story is not None
        assert (story.first_article_id, story.title) == (first_article, "Floods cut off villages")
        assert story.article_count == 3
        assert (story.first_seen_at, story.last_seen_at) == (T0, T0 + timedelta(hours=5))
        assert story_outlets(session=session, story_id=story_id) == ["wire", "gazette", "herald"]


def test_a_batch_puts_near_duplicates_of_each_other_in_one_story(engine: Engine) -> None:
    texts = [WIRE, OTHER, f"{HEADER} {WIRE} {FOOTER}"]
    with Session(engine) as session:
        prints = [fingerprint(text, options=OPTIONS) for text in texts]
        placed = place_in_stories(
            session=session, entries=[(fp, "t") for fp in prints], now=T0, options=OPTIONS
        )
        ids = [
            new_article(session, t, story_id=p.story_id) for t, p in zip(texts, placed, strict=True)
        ]
        attach_articles(session=session, placed=placed, article_ids=ids, now=T0)
        session.commit()
        assert [p.created for p in placed] == [True, True, False]
        assert placed[2].story_id == placed[0].story_id != placed[1].story_id
        story = session.get(Story, placed[0].story_id)
        assert story is not None
        assert (story.first_article_id, story.article_count) == (ids[0], 2)
        # a later batch finds the story in the store
        (again,) = place_in_stories(
            session=session, entries=[(prints[2], "t")], now=T0, options=OPTIONS
        )
        assert (again.story_id, again.created) == (placed[0].story_id, False)


THIRD = (
    "Workers at the city's largest port walked out on Monday in a dispute over pay and "
    "shift patterns, leaving dozens of container ships waiting at anchor offshore. The "
    "union said the strike would last a week unless managers returned to talks, while "
    "the port authority warned of shortages of fresh produce in supermarkets by the weekend."
)


def index_rows(session: Session, article_id: int) -> tuple[int, int]:
    """The article's (signatures, band keys) in the story index."""
    signatures = session.exec(
        select(func.count()).where(StorySignature.article_id == article_id)
    ).one()
    bands = session.exec(select(func.count()).where(StoryBand.article_id == article_id)).one()
    return signatures, bands


def test_pruning_removes_the_index_rows_past_the_window_and_lookups_find_the_same(
    engine: Engine,
) -> None:
    now = T0 + OPTIONS.window + PRUNE_MARGIN + timedelta(hours=12)
    with Session(engine) as session:
        old, old_story, _ = store(session, WIRE, now=T0)  # before the window and its margin
        margin, _, _ = store(session, OTHER, now=T0 + timedelta(days=1))  # in the margin
        recent, recent_story, _ = store(session, THIRD, now=T0 + timedelta(days=3))
        session.commit()

        assert prune_story_index(session=session, now=now, options=OPTIONS) == 1
        session.commit()

        assert index_rows(session, old) == (0, 0)
        assert index_rows(session, margin) == index_rows(session, recent) == (1, OPTIONS.bands)
        assert session.get(Article, old) is not None and session.get(Story, old_story) is not None
        # a copy of the recent article still joins its story; one of the old article starts
        # its own, as it did before pruning: the old article was out of the window already
        _, joined, created = store(session, f"{HEADER} {THIRD}", now=now, source="gazette")
        assert (joined, created) == (recent_story, False)
        _, apart, created = store(session, f"{HEADER} {WIRE}", now=now, source="gazette")
        assert created and apart != old_story
        assert prune_story_index(session=session, now=now, options=OPTIONS) == 0


def test_pruning_takes_the_oldest_articles_first_up_to_its_limit(engine: Engine) -> None:
    with Session(engine) as session:
        older, _, _ = store(session, WIRE, now=T0)
        newer, _, _ = store(session, OTHER, now=T0 + timedelta(hours=1))
        session.commit()
        later = T0 + timedelta(days=30)

        assert prune_story_index(session=session, now=later, options=OPTIONS, limit=1) == 1
        assert index_rows(session, older) == (0, 0)
        assert index_rows(session, newer) == (1, OPTIONS.bands)
        assert prune_story_index(session=session, now=later, options=OPTIONS, limit=1) == 1
        assert prune_story_index(session=session, now=later, options=OPTIONS, limit=1) == 0


def test_a_story_whose_articles_were_not_stored_is_deleted(engine: Engine) -> None:
    with Session(engine) as session:
        fp = fingerprint(WIRE, options=OPTIONS)
        (placed,) = place_in_stories(session=session, entries=[(fp, "t")], now=T0, options=OPTIONS)
        attach_articles(session=session, placed=[placed], article_ids=[None], now=T0)
        session.commit()
        assert placed.created
        assert session.get(Story, placed.story_id) is None


def test_a_story_whose_starter_was_not_stored_begins_with_its_next_article(
    engine: Engine,
) -> None:
    texts = [WIRE, f"{WIRE} {FOOTER}"]
    with Session(engine) as session:
        entries = [(fingerprint(text, options=OPTIONS), "t") for text in texts]
        first, second = place_in_stories(session=session, entries=entries, now=T0, options=OPTIONS)
        kept = new_article(session, texts[1], story_id=second.story_id)
        attach_articles(session=session, placed=[first, second], article_ids=[None, kept], now=T0)
        session.commit()
        story = session.get(Story, first.story_id)
        assert first.story_id == second.story_id
        assert story is not None
        assert (story.first_article_id, story.article_count) == (kept, 1)


# --- the syndication set: real corpus bodies, copied and edited ---------------------

SYNDICATION_SEED = 20240301
SYNDICATION_BODIES = 100
MIN_WORDS = 100  # shorter bodies (teasers, captions) are outweighed by any boilerplate
OUTLETS = {
    "Valley Gazette": (
        ["Skip to main content", "Subscribe to the Valley Gazette for unlimited access",
         "Sign in to save stories and comment"],
        ["Copyright 2024 Valley Gazette Media. All rights reserved.",
         "Get the morning briefing delivered to your inbox every weekday.",
         "Have a news tip? Write to our newsroom at any hour."],
    ),
    "Harbour Herald": (
        ["Advertisement", "Harbour Herald | Local news you can trust since 1891",
         "Listen to this article 4 min"],
        ["This story was distributed by a news agency and edited by Harbour Herald staff.",
         "Follow us on Facebook, Instagram and X for breaking news alerts.",
         "Related: more stories from our region, business and sport desks."],
    ),
    "Metro Daily": (
        ["Metro Daily News Politics Business Sport Culture Opinion",
         "Share on Facebook Share on X Share by email Print this page"],
        ["Read more: the day's top headlines, every evening, free.",
         "Comments are moderated and may take a while to appear on the site.",
         "Metro Daily is part of the Metro Publishing Group. Terms Privacy Cookies"],
    ),
}  # fmt: skip
SHARED_FOOTER = (
    "About this newsletter: you are receiving this message because you subscribed to news "
    "updates from our publishing group. Our journalism is supported by readers like you; "
    "please consider a digital subscription to keep independent reporting alive in your "
    "community. Unless otherwise stated, all articles, photographs and graphics are the "
    "property of the publisher and may not be reproduced, distributed, transmitted, cached "
    "or otherwise used without prior written permission. To stop receiving these emails, "
    "update your preferences in your account settings or use the unsubscribe link below. "
    "We never sell your personal data. Read our privacy policy and cookie policy for details "
    "on how we collect and use information."
)


@dataclass(frozen=True)
class Figures:
    """Recall per variant level and false merges of the syndication set."""

    recall: dict[str, float]
    false_merges: int
    pairs: int


def syndication_bodies(rng: random.Random) -> list[str]:
    path = shared_path(CORPUS / "articles" / "ground-truth.json")
    truth = json.loads(path.read_text(encoding="utf-8"))
    bodies = [truth[key]["articleBody"] for key in sorted(truth)]
    long = [body for body in bodies if len(body.split()) >= MIN_WORDS]
    return rng.sample(long, min(SYNDICATION_BODIES, len(long)))


def boilerplate(body: str, outlet: str, rng: random.Random) -> str:
    """`body` under the outlet's header lines and over its footer lines, 40–80 words of them."""
    headers, footers = OUTLETS[outlet]
    while True:
        header = rng.sample(headers, rng.randint(1, len(headers)))
        footer = rng.sample(footers, rng.randint(1, len(footers)))
        if 40 <= len(" ".join(header + footer).split()) <= 80:
            return "\n".join([*header, "", body, "", *footer])


def edited(text: str, rate: float, vocabulary: list[str], rng: random.Random) -> str:
    """`text` with about `rate` of its words replaced, dropped or followed by another word."""
    words: list[str] = []
    for word in text.split(" "):
        roll = rng.random()
        if roll < rate / 3:
            words.append(rng.choice(vocabulary))
        elif roll < 2 * rate / 3:
            continue
        elif roll < rate:
            words += [word, rng.choice(vocabulary)]
        else:
            words.append(word)
    return " ".join(words)


def variants(original: str, body: str, vocabulary: list[str], rng: random.Random) -> dict[str, str]:
    """The copies another outlet might run of `original` (Valley Gazette's copy of `body`)."""
    headline = " ".join(rng.sample(body.split()[:30], 8)).title()
    return {
        "new boilerplate": boilerplate(body, rng.choice(["Harbour Herald", "Metro Daily"]), rng),
        "2% word edits": edited(original, 0.02, vocabulary, rng),
        "10% word edits": edited(original, 0.10, vocabulary, rng),
        "new headline line": f"{headline}\n\n{original}",
    }


def measure_syndication(session: Session) -> Figures:
    """Store every original, its variants and footer-sharing pairs; count what merged."""
    rng = random.Random(SYNDICATION_SEED)
    bodies = syndication_bodies(rng)
    vocabulary = sorted({word for body in bodies for word in body.split()})
    originals = [boilerplate(body, "Valley Gazette", rng) for body in bodies]
    stories = [store(session, text, source="Valley Gazette")[1] for text in originals]
    assert len(set(stories)) == len(stories), "two different corpus bodies were merged"
    joined: dict[str, list[bool]] = {}
    for original, body, story_id in zip(originals, bodies, stories, strict=True):
        for level, text in variants(original, body, vocabulary, rng).items():
            _, story, _ = store(session, text, source="Harbour Herald", title="Another headline")
            joined.setdefault(level, []).append(story == story_id)
    false_merges = 0
    for left, right in zip(bodies, bodies[1:] + bodies[:1], strict=True):
        _, left_story, _ = store(session, f"{left}\n\n{SHARED_FOOTER}", source="Metro Daily")
        _, right_story, _ = store(session, f"{right}\n\n{SHARED_FOOTER}", source="Metro Daily")
        false_merges += left_story == right_story
    recall = {level: sum(hits) / len(hits) for level, hits in joined.items()}
    return Figures(recall=recall, false_merges=false_merges, pairs=len(bodies))


# Measured with SYNDICATION_SEED; the floors leave room for a few unlucky draws.
FLOORS = {
    "new boilerplate": 0.98,
    "2% word edits": 0.98,
    "10% word edits": 0.95,
    "new headline line": 0.98,
}


def test_syndication_set_merges_copies_and_never_footer_sharing_pairs(engine: Engine) -> None:
    with Session(engine) as session:
        figures = measure_syndication(session)
    print(
        f"\nsyndication set on {engine.dialect.name}:",
        *(f"{level}: {share:.1%}" for level, share in figures.recall.items()),
        f"false merges: {figures.false_merges}/{figures.pairs}",
        sep="\n  ",
    )
    assert figures.false_merges == 0
    assert {level: figures.recall[level] >= floor for level, floor in FLOORS.items()} == {
        level: True for level in FLOORS
    }


def test_a_batch_groups_the_syndication_set_as_articles_stored_one_by_one(
    engine: Engine,
) -> None:
    rng = random.Random(SYNDICATION_SEED)
    bodies = syndication_bodies(rng)[:40]
    vocabulary = sorted({word for body in bodies for word in body.split()})
    texts = []
    for body in bodies:
        original = boilerplate(body, "Valley Gazette", rng)
        texts += [original, *variants(original, body, vocabulary, rng).values()]
        texts.append(f"{body}\n\n{SHARED_FOOTER}")
    rng.shuffle(texts)
    later = T0 + OPTIONS.window + timedelta(days=1)  # the first pass is out of the window
    with Session(engine) as session:
        one_by_one = [store(session, text, now=T0)[1] for text in texts]
        entries = [(fingerprint(text, options=OPTIONS), "t") for text in texts]
        batch = place_in_stories(session=session, entries=entries, now=later, options=OPTIONS)
    assert groups(one_by_one) == groups([placed.story_id for placed in batch])
    assert len(set(one_by_one)) < len(texts) / 2  # copies did merge


def groups(story_ids: list[int]) -> list[int]:
    """Each article's story numbered by first appearance: equal lists, equal groupings."""
    numbers: dict[int, int] = {}
    return [numbers.setdefault(story, len(numbers)) for story in story_ids]


def test_prepare_gives_the_hash_and_fingerprint_the_store_would_compute() -> None:
    prepared = prepare(WIRE, options=OPTIONS)
    assert prepared.text_hash == text_hash(WIRE)
    assert prepared.fingerprint == fingerprint(WIRE, options=OPTIONS)
    assert prepared.fits(WIRE, OPTIONS)


@pytest.mark.parametrize(
    ("text", "options", "fits"),
    [
        (WIRE, OPTIONS, True),
        (WIRE + " Updated.", OPTIONS, False),  # an article copied with a new text
        (WIRE, StoryOptions(num_perm=64, bands=16), False),  # other story settings
    ],
)
def test_a_prepared_fingerprint_is_used_only_for_its_own_text_and_options(
    text: str, options: StoryOptions, fits: bool
) -> None:
    assert prepare(WIRE, options=OPTIONS).fits(text, options) is fits


def test_the_store_recomputes_what_was_prepared_for_another_text(engine: Engine) -> None:
    stale = ArticleIn(
        url="https://wire.example/a",
        source="wire",
        title="Wire",
        text=WIRE,
        origin="page",
        prepared=prepare(OTHER, options=OPTIONS),
    )
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("wire", "feed", "https://wire.example/")])
        stored = add_articles(session=session, articles=[stale], source_ids=ids, run_id=None)
        session.commit()
        assert stored.new[0].text_hash == text_hash(WIRE)
