"""Rules as configured: a name, a query, and the channels that hear about matches.

    rule = Rule(name="missile-launchers", query='"missile launcher"', channels=("desk",))
    rule.compiled.match(title=..., text=...)

An invalid query is rejected when the rule is built, with the rule's name and
the position of the error, never silently dropped: the config loader reports
`rules[3].query: unclosed quote at position 9 in rule 'launchers'`.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
)

from alerts.errors import QueryError
from alerts.query import Query, parse_query


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[\w][\w .:/-]*$")
    query: str
    channels: tuple[str, ...] = ()
    mode: str = Field("immediate", pattern=r"^(immediate|digest)$")  # digest: one message a period
    digest: str | None = Field(None, pattern=r"^(hourly|daily)$")  # mode "digest"'s period
    storm_limit: int = Field(20, ge=1, le=100_000)  # more alerts in one run: one summary instead
    _compiled: Query = PrivateAttr()

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str, info: ValidationInfo) -> str:
        try:
            _parsed(value)
        except QueryError as error:
            name = info.data.get("name")
            raise ValueError(f"{error} in rule {name!r}" if name else str(error)) from None
        return value

    def model_post_init(self, __context: object) -> None:
        self._compiled = _parsed(self.query)

    @property
    def compiled(self) -> Query:
        return self._compiled


@lru_cache(maxsize=256)
def _parsed(query: str) -> Query:
    """`parse_query`, remembered: a rule's query is validated, then compiled, with one
    parse, not two (a `Query` is never changed once made)."""
    return parse_query(query)
