"""Rules as configured: a name, a query, and the channels that hear about matches.

    rule = Rule(name="missile-launchers", query='"missile launcher"', channels=("desk",))
    rule.compiled.match(title=..., text=...)

An invalid query is rejected when the rule is built, with the position of the
error, never silently dropped.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from alerts.errors import QueryError
from alerts.query import Query, parse_query


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[\w][\w .:/-]*$")
    query: str
    channels: tuple[str, ...] = ()
    _compiled: Query = PrivateAttr()

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str) -> str:
        try:
            parse_query(value)
        except QueryError as error:
            raise ValueError(str(error)) from None
        return value

    def model_post_init(self, __context: object) -> None:
        self._compiled = parse_query(self.query)

    @property
    def compiled(self) -> Query:
        return self._compiled
