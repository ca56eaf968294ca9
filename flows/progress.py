"""A run's progress, for a terminal to show while the flow works.

    with reporting(reporter):
        asyncio.run(monitor(config_path="newswatch.toml"))

The stages call `progress()`, which does nothing unless a caller installed a
reporter. A Prefect flow takes only parameters it can record, so the reporter
travels in a context variable instead, and reaches the flow's tasks with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn


class Reporter(Protocol):
    def sources(self, total: int) -> None: ...
    def source_done(self, name: str) -> None: ...
    def pages(self, more: int) -> None: ...
    def page_done(self) -> None: ...


class _Silent:
    """The reporter when nobody watches."""

    def sources(self, total: int) -> None:
        pass

    def source_done(self, name: str) -> None:
        pass

    def pages(self, more: int) -> None:
        pass

    def page_done(self) -> None:
        pass


_SILENT = _Silent()
_current: ContextVar[Reporter | None] = ContextVar("newswatch_progress", default=None)


def progress() -> Reporter:
    """The reporter of the run in progress (a silent one by default)."""
    return _current.get() or _SILENT


@contextmanager
def reporting(reporter: Reporter | None) -> Iterator[Reporter | None]:
    """Install `reporter` for the runs started inside the block."""
    token = _current.set(reporter)
    try:
        yield reporter
    finally:
        _current.reset(token)


class RichReporter:
    """Two bars on `console`: sources polled, pages fetched and extracted."""

    def __init__(self, console: Console) -> None:
        self.bars = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        )
        self._sources = self.bars.add_task("sources polled", total=None)
        self._pages = self.bars.add_task("pages extracted", total=0)

    def __enter__(self) -> RichReporter:
        self.bars.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.bars.stop()

    def sources(self, total: int) -> None:
        self.bars.update(self._sources, total=total)

    def source_done(self, name: str) -> None:
        self.bars.advance(self._sources)

    def pages(self, more: int) -> None:
        task = self.bars.tasks[self._pages]
        self.bars.update(self._pages, total=(task.total or 0) + more)

    def page_done(self) -> None:
        self.bars.advance(self._pages)
