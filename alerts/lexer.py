"""The query language's scanner: a query string cut into lexemes with their positions.

    [lexeme.kind for lexeme in lex('title:"kim jong" NEAR/5 launch* -drill')]
    # ['FIELD', 'PHRASE', 'NEAR', 'WORD', 'NOT', 'WORD']

Hand-written: nothing from the query is compiled into a regex. Keywords are
upper case (`AND`, `OR`, `NOT`, `NEAR`, `NEAR/N`); a field is a name and a
colon (`title:`), and the value of a filter field (`source:`, `site:`,
`lang:`) is taken as written, colons and slashes included.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.errors import QueryError

DEFAULT_NEAR = 10
MAX_NEAR = 100
FILTERS = ("source", "site", "lang")
_QUOTES = {'"': '"', "“": "”"}


@dataclass(frozen=True)
class Lexeme:
    kind: str  # WORD, PHRASE, AND, OR, NOT, NEAR, FIELD, "(", ")"
    text: str
    position: int
    end: int
    distance: int = DEFAULT_NEAR  # of NEAR


def lex(query: str) -> list[Lexeme]:
    """The lexemes of `query`, or `QueryError` at the first that cannot be one."""
    lexemes: list[Lexeme] = []
    index = 0
    while index < len(query):
        char = query[index]
        if char.isspace():
            index += 1
            continue
        if char in "()":
            lexeme = Lexeme(char, char, index, index + 1)
        elif char in _QUOTES:
            lexeme = _phrase(query, index)
        elif char == "-":
            lexeme = _minus(query, index)
        else:
            lexeme = _word(query, index, raw=_filter_value_at(lexemes, index))
        lexemes.append(lexeme)
        index = lexeme.end
    return lexemes


def _phrase(query: str, start: int) -> Lexeme:
    close = query.find(_QUOTES[query[start]], start + 1)
    if close < 0:
        raise QueryError("unclosed quote", query=query, position=start)
    return Lexeme("PHRASE", query[start + 1 : close], start, close + 1)


def _minus(query: str, start: int) -> Lexeme:
    following = query[start + 1 : start + 2]
    if not following or following.isspace() or following == ")":
        raise QueryError("dangling '-'", query=query, position=start)
    return Lexeme("NOT", "-", start, start + 1)


def _filter_value_at(lexemes: list[Lexeme], index: int) -> bool:
    """Whether `index` starts the value of a filter, which is taken as written:
    `site:https://example.com/a` and `source:desk:seeds` are one value each."""
    field = lexemes[-1] if lexemes else None
    return (
        field is not None
        and field.kind == "FIELD"
        and field.end == index
        and (field.text[:-1].lower() in FILTERS)
    )


def _word(query: str, start: int, *, raw: bool = False) -> Lexeme:
    """A bare word, a keyword, `NEAR/N`, or a field name with its colon."""
    end = _word_end(query, start, stop=":" if not raw else "")
    if end < len(query) and query[end] == ":":
        name = query[start:end]
        if name.isascii() and name.isalpha():
            return Lexeme("FIELD", name + ":", start, end + 1)
        end = _word_end(query, end)
    text = query[start:end]
    if raw:
        return Lexeme("WORD", text, start, end)
    if text == "NEAR" or text.startswith("NEAR/"):
        return _near(query, start, text)
    return Lexeme(text if text in ("AND", "OR", "NOT") else "WORD", text, start, end)


def _word_end(query: str, start: int, *, stop: str = "") -> int:
    """Where the word at `start` ends (or the first `stop` in it): scanned once, so a
    query of many words joined by colons still lexes in linear time."""
    end = start
    while end < len(query) and not query[end].isspace() and query[end] not in '()"“':
        if query[end] == stop:
            break
        end += 1
    return end


def _near(query: str, start: int, text: str) -> Lexeme:
    digits = text.removeprefix("NEAR").removeprefix("/")
    if text == "NEAR":
        return Lexeme("NEAR", text, start, start + len(text))
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 3) or not (
        1 <= int(digits) <= MAX_NEAR
    ):
        message = f"NEAR/ needs a number of words from 1 to {MAX_NEAR}"
        raise QueryError(message, query=query, position=start + len("NEAR/"))
    return Lexeme("NEAR", text, start, start + len(text), int(digits))
