"""Every configured rule compiled together, so an article is matched against all of them at once.

    ruleset = RuleSet(rules)
    for rule, match in ruleset.matches(Document.of(title=..., text=...)):
        ...

A rule can only be true if one of its *triggers* occurs: the positive terms of
an OR, one operand of an AND or NEAR (the one that looks rarest), never a NOT
or a filter. Parsing rejects queries that could be true with no term, so every
rule has triggers. The rule set files each trigger once for all rules:

  a word         under each of its forms (`launcher`, `launchers`, ...);
  a phrase       under two adjacent words, those starting with its longest word;
  a prefix       under its first `HEAD` characters.

Per article and field it intersects the filed words with the field's distinct
words (a set operation in C), looks at the word after each occurrence of a
phrase's anchor, and checks each distinct word against the prefixes filed
under its head: one pass over the text, never one per rule. It verifies just
the phrases whose anchor pair occurs, then evaluates the boolean tree of just
the rules with a trigger hit. Evaluation is the same `Query.match_document` as
a rule alone, on the same memoised field lookups, so each result is exactly
what the rule gives by itself, in config order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from alerts.match import Document, Match, Pattern, TextIndex
from alerts.query import And, Near, Node, Or, Query, Term
from alerts.rules import Rule

HEAD = 5  # prefixes are filed under their first HEAD characters (or all, if shorter)


class RuleSet:
    """The rules, in configuration order, ready to match many articles."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._queries: tuple[Query, ...] = tuple(rule.compiled for rule in self.rules)
        self._index = _TriggerIndex.of(self._queries)

    def matches_article(
        self, *, title: str, text: str, source: str, url: str, lang: str | None
    ) -> list[tuple[Rule, Match]]:
        """`matches` for an article as stored: `site:` looks at its URL's host."""
        document = Document.of(
            title=title,
            text=text,
            source=source,
            site=(urlsplit(url).hostname or "").lower(),
            lang=lang,
        )
        return self.matches(document)

    def named(self, found: Sequence[tuple[str, Match]]) -> list[tuple[Rule, Match]]:
        """Matches made elsewhere (by rule name, e.g. in a worker process) with this set's
        rules; a name this set does not have is dropped."""
        by_name = {rule.name: rule for rule in self.rules}
        return [(by_name[name], match) for name, match in found if name in by_name]

    def matches(self, document: Document) -> list[tuple[Rule, Match]]:
        """Each rule `document` matches, with why, in the rules' order."""
        found = []
        for number in self._index.candidates(document):
            match = self._queries[number].match_document(document)
            if match is not None:
                found.append((self.rules[number], match))
        return found


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


@dataclass(eq=False)
class _Entry:
    """One distinct pattern and the numbers of the rules it triggers."""

    pattern: Pattern
    rules: list[int] = field(default_factory=list)


@dataclass
class _TriggerIndex:
    """Word forms, anchor pairs and prefix heads → the trigger patterns filed there."""

    by_word: dict[str, list[_Entry]] = field(default_factory=dict)
    by_pair: dict[str, dict[str, list[_Entry]]] = field(default_factory=dict)  # first → second
    by_head: dict[str, list[_Entry]] = field(default_factory=dict)
    head_lengths: list[int] = field(default_factory=list)
    always: list[int] = field(default_factory=list)  # rules without triggers (none parse)

    @classmethod
    def of(cls, queries: Sequence[Query]) -> _TriggerIndex:
        index = cls()
        entries: dict[str, _Entry] = {}
        for number, query in enumerate(queries):
            found = triggers(query.root)
            if not found:
                index.always.append(number)
            for pattern in (term.pattern for term in found):
                entry = entries.setdefault(pattern.key, _Entry(pattern))
                if not entry.rules or entry.rules[-1] != number:
                    entry.rules.append(number)
        for entry in entries.values():
            index._add(entry)
        return index

    def _add(self, entry: _Entry) -> None:
        pattern = entry.pattern
        anchor = _anchor(pattern)
        if pattern.prefix and len(pattern.words) == 1:
            head = pattern.words[0][:HEAD]
            self.by_head.setdefault(head, []).append(entry)
            self.head_lengths = sorted({*self.head_lengths, len(head)})
        elif anchor is None:
            for form in pattern.forms[0]:
                self.by_word.setdefault(form, []).append(entry)
        else:
            for first in pattern.forms[anchor]:
                seconds = self.by_pair.setdefault(first, {})
                for second in pattern.forms[anchor + 1]:
                    seconds.setdefault(second, []).append(entry)

    def candidates(self, document: Document) -> list[int]:
        """Numbers of the rules with a trigger in `document`, in order."""
        hit: set[int] = set(self.always)
        for index in (document.title, document.text):
            self._words(index, hit)
            if self.by_pair:
                self._phrases(index, hit)
            if self.by_head:
                self._prefixes(index, hit)
        return sorted(hit)

    def _words(self, index: TextIndex, hit: set[int]) -> None:
        by_word = self.by_word
        for key in by_word.keys() & index.positions.keys():
            for entry in by_word[key]:
                if entry.pattern.is_word or index.starts(entry.pattern):
                    hit.update(entry.rules)

    def _phrases(self, index: TextIndex, hit: set[int]) -> None:
        """Phrases whose anchor pair stands side by side somewhere in the field."""
        keys, elided, last = index.keys, index.elided, len(index.keys) - 1
        for first in self.by_pair.keys() & index.positions.keys():
            seconds = self.by_pair[first]
            for position in index.positions[first]:
                if position == last:
                    continue
                entries = seconds.get(keys[position + 1], ())
                if elided and position + 1 in elided:
                    entries = [*entries, *seconds.get(elided[position + 1], ())]
                for entry in entries:
                    if index.starts(entry.pattern):
                        hit.update(entry.rules)

    def _prefixes(self, index: TextIndex, hit: set[int]) -> None:
        by_head, lengths = self.by_head, self.head_lengths
        for key in index.positions:
            for length in lengths:
                for entry in by_head.get(key[:length], ()):
                    if key.startswith(entry.pattern.words[0]):
                        hit.update(entry.rules)


def _anchor(pattern: Pattern) -> int | None:
    """Which two adjacent words of a phrase to look it up by: those starting with
    its longest word, likely its rarest, so common first words (`the`) cost
    nothing. None for a single word, or two words the second of which is a prefix."""
    usable = len(pattern.words) - (2 if pattern.prefix else 1)
    if usable < 1:
        return None
    return max(range(usable), key=lambda offset: len(pattern.words[offset]))
