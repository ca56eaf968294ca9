"""Which rules an article can match, found without looking at each rule.

A rule can only be true if one of its *triggers* occurs: the positive terms of
an OR, one operand of an AND or NEAR (the one that looks rarest), never a NOT
or a filter. Parsing rejects queries that could be true with no term, so every
rule has triggers. `TriggerIndex` files each distinct trigger once for all rules:

  a word         under each of its forms (`launcher`, `launchers`, ...);
  a phrase       under each pair of forms of two adjacent words written with a
                 space or hyphen between, those starting with its longest word
                 (with no two so written, under the forms of its longest word);
  a prefix       under its first `HEAD` characters.

Per article and field it intersects the filed words with the field's distinct
words, and the filed pairs with its pairs of adjacent words joined by a space
or hyphen (set operations in C). A word, or a two-word phrase, is then found
exactly; a longer phrase is looked for only where its pair occurs. Each
distinct word not met before is checked against the prefixes filed under its
head, and what it starts is remembered (news reuses its words). A rule whose
trigger occurs is *sure* when that alone makes it true (a term, or an OR of
terms, in title or text); the others are *maybe*, for the caller to evaluate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from alerts.index import Document, TextIndex
from alerts.tree import And, Near, Node, Or, Term
from alerts.words import Pattern, pairs_of

HEAD = 5  # prefixes are filed under their first HEAD characters (or all, if shorter)
PREFIX_MEMO = 1 << 18  # distinct words whose prefix triggers are remembered, at most


def triggers(node: Node) -> tuple[Term, ...]:
    """Terms of which at least one occurs whenever `node` is true; () if none can
    be named (a NOT or a filter), which an AND then skips."""
    if isinstance(node, Term):
        return (node,)
    if isinstance(node, Near):
        return min((node.left,), (node.right,), key=_cost)
    if isinstance(node, Or):
        branches = [triggers(child) for child in node.children]
        return () if not all(branches) else tuple(term for branch in branches for term in branch)
    if isinstance(node, And):
        options = [found for child in node.children if (found := triggers(child))]
        return min(options, key=_cost) if options else ()
    return ()


def is_settled_by_triggers(node: Node) -> bool:
    """Whether `node` is true as soon as any of its triggers occurs anywhere: a term
    in title or text, or an OR of such (whose triggers are all its terms)."""
    if isinstance(node, Term):
        return node.field is None
    if isinstance(node, Or):
        return all(is_settled_by_triggers(child) for child in node.children)
    return False


# Words in nearly every article, of English, German, French and Spanish: a poor
# trigger. The choice only changes how fast a rule is found, never whether.
_COMMON = """a about after all also an and any are as at be been but by can could did do for
from had has have he her his how i if in into is it its just like more most my new
no not now of on one only or other our out over said says she so some such than
that the their them then there these they this those to up us was we were what
when which who will with would you your der die das und ist nicht ein eine zu den
von mit sich des auf fur im dem als auch es an werden aus er hat dass sie nach bei
le la les de des du un une et est en que qui dans pour pas sur au par plus il elle
el los las y del se por con para una es lo como mas"""
COMMON_WORDS = frozenset(_COMMON.split())


def _cost(terms: Sequence[Term]) -> int:
    """How often these terms are likely to occur: a phrase rarely, a common or short
    word often, a word the query capitalised (a name) less often."""
    return sum(_term_cost(term) for term in terms)


def _term_cost(term: Term) -> int:
    words = term.pattern.words
    if len(words) > 1:
        return 1
    if words[0] in COMMON_WORDS:
        return 50
    name = 4 if term.text[:1].isupper() else 0
    return max(1, 12 - len(words[0]) + 2 * term.pattern.prefix - name)


Rules = tuple[int, ...]


@dataclass(eq=False)
class _Entry:
    """One distinct trigger pattern and the numbers of the rules it triggers."""

    pattern: Pattern
    sure: Rules = ()
    maybe: Rules = ()

    @classmethod
    def of(cls, pattern: Pattern, rules: Sequence[tuple[int, bool]]) -> _Entry:
        """`rules` are (number, whether the pattern settles the rule)."""
        sure = tuple(number for number, settled in rules if settled)
        return cls(pattern, sure, tuple(number for number, settled in rules if not settled))


@dataclass(frozen=True)
class _Slot:
    """What a word or pair triggers: rules that it settles or makes worth evaluating,
    and longer patterns filed under it, which may or may not occur (`checks`)."""

    sure: Rules = ()
    maybe: Rules = ()
    checks: tuple[_Entry, ...] = ()

    @classmethod
    def joined(cls, slots: Sequence[_Slot]) -> _Slot:
        if len(slots) == 1:
            return slots[0]
        return cls(
            tuple(number for slot in slots for number in slot.sure),
            tuple(number for slot in slots for number in slot.maybe),
            tuple(entry for slot in slots for entry in slot.checks),
        )


class Candidates:
    """The rules an article triggered: `sure` ones are true, `maybe` ones need evaluating."""

    __slots__ = ("maybe", "sure")

    def __init__(self, maybe: Iterable[int]) -> None:
        self.sure: set[int] = set()
        self.maybe: set[int] = set(maybe)

    def take(self, slots: Iterable[_Slot], index: TextIndex) -> None:
        """The rules of `slots`, found in the field `index`, and of the patterns they
        file that `index` has."""
        sure, maybe = self.sure, self.maybe
        checks: list[_Entry] = []
        for slot in slots:
            if slot.sure:
                sure.update(slot.sure)
            if slot.maybe:
                maybe.update(slot.maybe)
            if slot.checks:
                checks += slot.checks
        for entry in checks:
            if index.has(entry.pattern):
                sure.update(entry.sure)
                maybe.update(entry.maybe)


class _Learned:
    """The filed words, and the words learned since to start a filed prefix; every word
    already checked against the prefixes."""

    def __init__(self, by_word: dict[str, _Slot]) -> None:
        self.by_word = dict(by_word)
        self.checked: set[str] = set()


@dataclass
class TriggerIndex:
    """Word forms, pairs of forms and prefix heads → what the rules' triggers ask there.

    index = TriggerIndex.of([rule.compiled.root for rule in rules])
    found = index.candidates(document)  # found.sure, found.maybe: rule numbers
    """

    by_word: dict[str, _Slot] = field(default_factory=dict)
    by_pair: dict[str, _Slot] = field(default_factory=dict)  # under `words.pair`s
    by_head: dict[str, list[_Entry]] = field(default_factory=dict)  # one-word prefixes
    head_lengths: list[int] = field(default_factory=list)
    always: list[int] = field(default_factory=list)  # rules without triggers (none parse)
    _learned: _Learned | None = field(default=None, repr=False)

    @classmethod
    def of(cls, roots: Sequence[Node]) -> TriggerIndex:
        patterns: dict[Pattern, list[tuple[int, bool]]] = {}
        always = []
        for number, root in enumerate(roots):
            found = triggers(root)
            if not found:
                always.append(number)
            settled = is_settled_by_triggers(root)
            for pattern in dict.fromkeys(term.pattern for term in found):
                patterns.setdefault(pattern, []).append((number, settled))
        by_word: dict[str, list[_Slot]] = {}
        by_pair: dict[str, list[_Slot]] = {}
        by_head: dict[str, list[_Entry]] = {}
        for pattern, rules in patterns.items():
            entry = _Entry.of(pattern, rules)
            if pattern.prefix and len(pattern.words) == 1:
                by_head.setdefault(pattern.words[0][:HEAD], []).append(entry)
            elif pattern.is_word:
                _file(by_word, pattern.forms[0], _Slot(entry.sure, entry.maybe))
            elif pattern.pairs is not None:
                _file(by_pair, pattern.pairs, _Slot(entry.sure, entry.maybe))
            elif (anchor := _anchor(pattern)) is not None:
                pairs = pairs_of(pattern.forms[anchor], pattern.forms[anchor + 1])
                _file(by_pair, pairs, _Slot(checks=(entry,)))
            else:
                _file(by_word, pattern.forms[pattern.pivot], _Slot(checks=(entry,)))
        return cls(
            {word: _Slot.joined(slots) for word, slots in by_word.items()},
            {pair: _Slot.joined(slots) for pair, slots in by_pair.items()},
            by_head,
            sorted({len(head) for head in by_head}),
            always,
        )

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the words it learned: a worker process learns its own."""
        return {**self.__dict__, "_learned": None}

    def candidates(self, document: Document) -> Candidates:
        """The rules with a trigger in `document`: per field, the filed words among its
        words and the filed pairs among its pairs, set operations in C."""
        found = Candidates(self.always)
        by_pair = self.by_pair
        for index in (document.title, document.text):
            by_word = self._by_word(index.words)
            found.take(map(by_word.__getitem__, by_word.keys() & index.words), index)
            if by_pair:
                found.take(map(by_pair.__getitem__, by_pair.keys() & index.pairs), index)
        return found

    def _by_word(self, words: set[str]) -> dict[str, _Slot]:
        """The filed words, with those of `words` that start a filed prefix among them."""
        if not self.by_head:
            return self.by_word
        learned = self._learned
        if learned is None or len(learned.checked) > PREFIX_MEMO:
            learned = self._learned = _Learned(self.by_word)
        unchecked = words - learned.checked
        for word in unchecked:
            slots = self._prefixes_of(word)
            if slots:
                filed = learned.by_word.get(word)
                learned.by_word[word] = _Slot.joined([filed, *slots] if filed else slots)
        learned.checked.update(unchecked)
        return learned.by_word

    def _prefixes_of(self, word: str) -> list[_Slot]:
        """What the filed prefixes that `word` starts with trigger."""
        return [
            _Slot(entry.sure, entry.maybe)
            for length in self.head_lengths
            for entry in self.by_head.get(word[:length], ())
            if word.startswith(entry.pattern.words[0])
        ]


def _file(filed: dict[str, list[_Slot]], keys: Iterable[str], slot: _Slot) -> None:
    for key in keys:
        filed.setdefault(key, []).append(slot)


def _anchor(pattern: Pattern) -> int | None:
    """Which two adjacent exact words of a phrase, written joined by a space or hyphen,
    to file it under: those starting with its longest word, likely its rarest, so
    common words (`the`) cost nothing. None if no two are so written."""
    exact = len(pattern.words) - pattern.prefix
    joined = [offset for offset in range(exact - 1) if pattern.joins[offset] == ""]
    return max(joined, key=lambda offset: len(pattern.words[offset]), default=None)
