"""Every configured rule compiled together, so an article is matched against all of them at once.

    ruleset = RuleSet(rules)
    for rule, match in ruleset.matches(Document.of(title=..., text=...)):
        ...

One pass per article: the trigger index (`alerts.triggers`) names the few rules
whose rarest needed term occurs, most of them already true by that alone; the
rest are decided on word positions (`Node.holds`). Each true rule comes with a
`Match` that looks up its hits and cuts its snippet only when read, with the
same code as the rule alone (`Node.find`), so each result is exactly what the
rule gives by itself, in config order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from alerts.index import Document
from alerts.match import Match
from alerts.rules import Rule
from alerts.tree import Node
from alerts.triggers import TriggerIndex, triggers

if TYPE_CHECKING:
    from storage import ArticleIn

__all__ = ["RuleSet", "triggers"]


class RuleSet:
    """The rules, in configuration order, ready to match many articles."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._by_name = {rule.name: rule for rule in self.rules}
        self._roots: tuple[Node, ...] = tuple(rule.compiled.root for rule in self.rules)
        self._index = TriggerIndex.of(self._roots)

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

    def matches_extracted(self, article: ArticleIn) -> list[tuple[Rule, Match]]:
        """`matches_article` for an article on its way into the store."""
        return self.matches_article(
            title=article.title,
            text=article.text,
            source=article.source,
            url=article.url,
            lang=article.language,
        )

    def named(self, found: Sequence[tuple[str, Match]]) -> list[tuple[Rule, Match]]:
        """Matches made elsewhere (by rule name, e.g. in a worker process) with this set's
        rules; a name this set does not have is dropped."""
        by_name = self._by_name
        return [(by_name[name], match) for name, match in found if name in by_name]

    def matches(self, document: Document) -> list[tuple[Rule, Match]]:
        """Each rule `document` matches, with why (worked out when read), in the rules' order."""
        found = self._index.candidates(document)
        true, roots = found.sure, self._roots
        true.update(number for number in found.maybe - true if roots[number].holds(document))
        rules = self.rules
        return [(rules[number], Match.pending(roots[number], document)) for number in sorted(true)]
