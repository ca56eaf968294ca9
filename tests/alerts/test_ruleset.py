"""`RuleSet`: one pass per article for many rules, exactly as if each rule ran alone."""

from __future__ import annotations

import pickle
import random

import pytest

from alerts import Document, QueryError, Rule, RuleSet, parse_query
from alerts import triggers as triggers_module
from alerts.query import MAX_TERMS, And, Node, Not, Or
from alerts.triggers import triggers

WORDS = [
    "missile", "missiles", "launcher", "launchers", "launch", "launched", "Kim", "Jong",
    "Un", "party", "parties", "box", "boxes", "minister's", "ministers'", "busy", "business",
    "Pjöngjang", "PJONGJANG", "Straße", "strasse", "café", "l'Élysée", "Élysée", "dell’Italia",
    "Italia", "U.S.", "covid-19", "北朝鲜", "ミサイル", "Пхеньян", "Пхеньяна", "صاروخ", "the",
    "a", "of", "drill", "parade", "missile-launchers", "Kim-Jong-Un", "U.S.-launched",
]  # fmt: skip
QUERY_WORDS = [
    "missile", "launcher", "launch", "kim", "jong", "un", "party", "box", "minister", "busy",
    "business", "pjongjang", "Straße", "cafe", "élysée", "l'élysée", "italia", "U.S.",
    "covid-19", "北朝鲜", "朝鲜", "ミサイル", "пхеньян", "صاروخ", "the", "drill", "parade",
    "missile-launch*", "kim-jong*", "U.S.-launch*",
]  # fmt: skip
SEPARATORS = [" "] * 8 + [", ", ". ", "-", "\n\n", " — ", "\u00a0", ": "]
SOURCES = ["desk", "Desk Seeds", "wire"]
SITES = ["https://www.example.com/a", "news.example.org", "example.com", ""]
LANGUAGES = ["en", "en-GB", "de", None]
FILTERS = ["source:desk", 'source:"desk seeds"', "site:example.com", "site:example.org"]
FILTERS += ["lang:en", "lang:de", "lang:en-gb"]


def random_text(rng: random.Random, words: int) -> str:
    parts = []
    for _ in range(words):
        parts += [rng.choice(WORDS), rng.choice(SEPARATORS)]
    return "".join(parts).strip()


def random_document(rng: random.Random) -> dict[str, str | None]:
    return {
        "title": random_text(rng, rng.randint(0, 6)),
        "text": random_text(rng, rng.randint(0, 60)),
        "source": rng.choice(SOURCES),
        "site": rng.choice(SITES),
        "lang": rng.choice(LANGUAGES),
    }


def random_term(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return rng.choice(QUERY_WORDS)
    if kind < 0.8:
        return '"' + " ".join(rng.choice(QUERY_WORDS) for _ in range(rng.randint(2, 3))) + '"'
    word = rng.choice([w for w in QUERY_WORDS if len(w) >= 4 and w.isalpha()])
    return word[: rng.randint(3, len(word))] + "*"


def random_query(rng: random.Random, depth: int = 0) -> str:
    kind = rng.random() if depth < 3 else 0.0
    if kind < 0.35:
        return random_term(rng)
    if kind < 0.45:
        return f"{random_term(rng)} NEAR/{rng.randint(1, 5)} {random_term(rng)}"
    if kind < 0.55:
        return "-" + random_query(rng, depth + 1)
    if kind < 0.62:
        return rng.choice(FILTERS)
    if kind < 0.70:
        return rng.choice(("title:", "text:")) + f"({random_query(rng, 3)})"
    children = [random_query(rng, depth + 1) for _ in range(rng.randint(2, 3))]
    operator = rng.choice((" ", " AND ", " OR "))
    return "(" + operator.join(children) + ")"


def random_rules(rng: random.Random, count: int) -> list[Rule]:
    rules: list[Rule] = []
    while len(rules) < count:
        query = random_query(rng)
        try:
            parse_query(query)
        except QueryError:
            continue
        rules.append(Rule(name=f"r{len(rules)}", query=query))
    return rules


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ruleset_gives_exactly_what_each_rule_gives_alone(seed: int) -> None:
    rng = random.Random(seed)
    rules = random_rules(rng, 300)
    ruleset = RuleSet(rules)
    matched = 0
    for _ in range(150):
        fields = random_document(rng)
        together = ruleset.matches(Document.of(**fields))  # type: ignore[arg-type]
        document = Document.of(**fields)  # type: ignore[arg-type]  # nothing memoised yet
        alone = []
        for rule in rules:
            match = rule.compiled.match_document(document)
            if match is not None:
                alone.append((rule, match))
        assert together == alone, fields
        matched += len(alone)
    assert matched > 1_000  # the generator makes rules that do hit


@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("missile", ["missile"]),
        ('"missile launcher"', ["missile launcher"]),
        ("kim missile", ["missile"]),  # the longer word is likely rarer
        ("Putin missile", ["Putin"]),  # unless the shorter is a name
        ('kim "missile launcher"', ["missile launcher"]),  # a phrase more so
        ("kim OR missile", ["kim", "missile"]),
        ("(kim OR jong) launcher", ["launcher"]),
        ("(kimberley OR jongleur) un", ["kimberley", "jongleur"]),
        ("missile -launcher", ["missile"]),
        ("kim NEAR missile", ["missile"]),
        ("which NEAR Kim", ["Kim"]),
        ("Bean NEAR/5 points", ["Bean"]),
        ("launch* kim", ["launch*"]),
        ("kim source:desk", ["kim"]),
        ("title:(a OR bb) -c", ["a", "bb"]),
    ],
)
def test_a_rule_is_triggered_by_the_rarest_looking_terms_it_needs(
    query: str, keys: list[str]
) -> None:
    assert [term.text for term in triggers(parse_query(query).root)] == keys


ARTICLE = {
    "title": "Parade in Pjöngjang",
    "text": "Mobile missile launchers rolled past l'Élysée; the U.S. watched.",
}


@pytest.mark.parametrize(
    ("query", "fires"),
    [
        ("parade", True),
        ("title:parade", True),
        ("text:parade", False),
        ('"missile launcher"', True),
        ('"launchers rolled"', True),
        ('"rolled launchers"', False),
        ('"past élysée"', True),
        ('"élysée the"', False),
        ("launch*", True),
        ("launc*", True),
        ("lau* OR zzz", True),
        ("launchpad*", False),
        ("U.S.", True),
        ("pjongjang NEAR/3 parade", True),
        ("pjongjang NEAR/3 missile", False),
        ("missile -parade", False),
        ("missile -drill", True),
        ("(drill OR parade) AND -title:drill", True),
    ],
)
def test_ruleset_finds_rules_by_words_phrases_and_prefixes_in_both_fields(
    query: str, fires: bool
) -> None:
    rules = [Rule(name="decoy", query="zzz"), Rule(name="probe", query=query)]
    found = RuleSet(rules).matches(Document.of(**ARTICLE))
    assert [rule.name for rule, _ in found] == (["probe"] if fires else [])


def test_matches_come_in_config_order_with_why() -> None:
    queries = ["launcher*", '"missile launcher"', "drone", "parade OR missile", "missile"]
    rules = [Rule(name=f"r{n}", query=query) for n, query in enumerate(queries)]
    found = RuleSet(rules).matches(Document.of(**ARTICLE))
    assert [(rule.name, match.terms) for rule, match in found] == [
        ("r0", ("launcher*",)),
        ("r1", ("missile launcher",)),
        ("r3", ("parade", "missile")),
        ("r4", ("missile",)),
    ]
    assert found[1][1].snippet[found[1][1].snippet_start : found[1][1].snippet_end] == (
        "missile launchers"
    )


def test_empty_ruleset_matches_nothing() -> None:
    assert RuleSet([]).matches(Document.of(**ARTICLE)) == []


def test_thousands_of_prefix_rules_sharing_a_head_and_max_size_rules() -> None:
    """Hostile rule sets still answer: prefixes under one head, rules at the term cap."""
    prefixes = [Rule(name=f"p{n}", query=f"mis{n:04d}*") for n in range(3_000)]
    wide = " OR ".join(f"w{n}" for n in range(MAX_TERMS - 1)) + " OR launchers"
    rules = [*prefixes, Rule(name="wide", query=wide), Rule(name="missile", query="miss*")]
    text = ARTICLE["text"] + " mis0042x " * 1_000
    found = RuleSet(rules).matches(Document.of(title="", text=text))
    assert [rule.name for rule, _ in found] == ["p42", "wide", "missile"]


@pytest.mark.parametrize("seed", [4, 5])
def test_deciding_on_positions_agrees_with_finding_hits_for_every_node(seed: int) -> None:
    """`holds` is what `RuleSet` decides with; `find`, what explains a match."""
    rng = random.Random(seed)
    nodes = [node for rule in random_rules(rng, 200) for node in subtrees(rule.compiled.root)]
    for _ in range(100):
        fields = random_document(rng)
        deciding, finding = Document.of(**fields), Document.of(**fields)  # type: ignore[arg-type]
        held = [node.holds(deciding) for node in nodes]
        assert held == [node.find(finding) is not None for node in nodes], fields


def subtrees(node: Node) -> list[Node]:
    children: tuple[Node, ...] = ()
    if isinstance(node, And | Or):
        children = node.children
    elif isinstance(node, Not):
        children = (node.child,)
    return [node, *(found for child in children for found in subtrees(child))]


def test_matches_are_explained_only_when_read() -> None:
    rules = [Rule(name="launchers", query='"missile launcher"'), Rule(name="kim", query="Kim")]
    document = Document.of(title="Kim", text=ARTICLE["text"])
    found = RuleSet(rules).matches(document)
    assert [rule.name for rule, _ in found] == ["launchers", "kim"]
    assert document._snippets == {} and "offsets" not in document.text.__dict__
    match = found[0][1]
    assert match.snippet[match.snippet_start : match.snippet_end] == "missile launchers"
    assert found[1][1].field == "title"


def test_a_pickled_ruleset_matches_alike_and_learns_its_prefixes_afresh() -> None:
    """The extraction pool sends the rule set to its worker processes this way."""
    rng = random.Random(6)
    rules = [*random_rules(rng, 200), Rule(name="launch", query="launch*")]
    ruleset = RuleSet(rules)
    documents = [random_document(rng) for _ in range(30)]
    before = [ruleset.matches(Document.of(**fields)) for fields in documents]  # type: ignore[arg-type]
    copy = pickle.loads(pickle.dumps(ruleset))
    assert ruleset._index._learned is not None and copy._index._learned is None
    after = [copy.matches(Document.of(**fields)) for fields in documents]  # type: ignore[arg-type]
    assert [[(r.name, m) for r, m in found] for found in after] == [
        [(r.name, m) for r, m in found] for found in before
    ]
    assert any(found for found in after)


def test_a_full_prefix_memo_starts_over_and_rules_still_match(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(triggers_module, "PREFIX_MEMO", 3)
    ruleset = RuleSet([Rule(name="launch", query="launch*"), Rule(name="kim", query="kim")])
    texts = ["one two three four launched", "five six seven eight kim", "launches nine ten"]
    found = [[r.name for r, _ in ruleset.matches(Document.of(title="", text=t))] for t in texts]
    assert found == [["launch"], ["kim"], ["launch"]]
    assert len(ruleset._index._learned.checked) <= 3 + 4


def test_thousands_of_phrases_filed_under_one_pair_find_just_theirs() -> None:
    rules = [Rule(name=f"p{n}", query=f'"kim jong un{n}"') for n in range(3_000)]
    rules.append(Rule(name="pair", query='"kim jong"'))
    found = RuleSet(rules).matches(Document.of(title="", text="Kim Jong un1234 spoke"))
    assert [rule.name for rule, _ in found] == ["p1234", "pair"]
