"""Progress bars of `newswatch run`: what the flow reports is what the bars show."""

from __future__ import annotations

import io

from rich.console import Console

from flows.progress import RichReporter, progress, reporting


def test_bars_count_sources_and_pages_as_they_are_reported() -> None:
    console = Console(file=io.StringIO(), force_terminal=True)
    with RichReporter(console) as bars, reporting(bars):
        progress().sources(2)
        progress().source_done("dw")
        progress().pages(3)
        progress().pages(2)
        for _ in range(4):
            progress().page_done()
        sources, pages = bars.bars.tasks
    assert (sources.total, sources.completed) == (2, 1)
    assert (pages.total, pages.completed) == (5, 4)


def test_a_reporter_is_installed_only_inside_its_block() -> None:
    console = Console(file=io.StringIO(), force_terminal=True)
    bars = RichReporter(console)
    outside = progress()
    with reporting(bars):
        assert progress() is bars
    assert progress() is outside is not bars
    outside.page_done()  # the silent default accepts every report
