"""Task arguments Prefect passes as they are.

    extracted = await extract_task(quoted(batch), quoted(fetcher), number)

Prefect walks every argument of a task call looking for futures to resolve:
a batch of articles, the settings with their thousands of rules, an engine.
`prefect.utilities.annotations.quote` stops the walk, but its result is typed
as a `quote`, so a type checker no longer checks the task's arguments;
`quoted` keeps the value's own type.
"""

from __future__ import annotations

from typing import TypeVar, cast

from prefect.utilities.annotations import quote

T = TypeVar("T")


def quoted(value: T) -> T:
    """`value` wrapped in Prefect's `quote`, typed as itself."""
    return cast(T, quote(value))
