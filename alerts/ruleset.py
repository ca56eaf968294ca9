"""Every configured rule compiled together, so an article is matched against all of them at once.

ruleset = RuleSet(rules)
for rule, match in ruleset.matches(Document.of(title=..., text=...)):
    ...
"""

from __future__ import annotations

from collections.abc import Sequence

from alerts.match import Document, Match
from alerts.rules import Rule


class RuleSet:
    """The rules, in configuration order, ready to match many articles."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)

    def matches(self, document: Document) -> list[tuple[Rule, Match]]:
        """Each rule `document` matches, with why, in the rules' order."""
        found = []
        for rule in self.rules:
            match = rule.compiled.match_document(document)
            if match is not None:
                found.append((rule, match))
        return found
