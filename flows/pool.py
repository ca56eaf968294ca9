"""Article extraction in worker processes, so the event loop keeps fetching meanwhile.

trafilatura holds the GIL for the whole of a page, so `asyncio.to_thread` runs
one extraction at a time and stalls the loop's own work; a process pool uses
every core::

    async with ExtractionPool() as pool:
        article = await pool.extract(fetched.body, url=fetched.url, source="dw")

Workers start from a `forkserver` (fork after Prefect has started threads is
unsafe) that has imported trafilatura once and loaded what it loads lazily
(`flows.warm`), so a new worker costs a fork, not an import and a slow first
page. Errors come back as the types `extract_article` raises; a worker that
dies takes the pages it was working on with it as `ExtractError`s, and the
next page gets a fresh pool.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flows.errors import ExtractError, NewswatchError
from flows.extract import extract_article
from flows.gcpause import gc_paused
from flows.items import Candidate
from storage.schemas import ArticleIn
from storage.stories import StoryOptions, prepare

if TYPE_CHECKING:
    from alerts import RuleSet

Extractor = Callable[..., ArticleIn]

_WARM = "flows.warm"  # imports what the workers run, and loads what they load lazily


def start_forkserver() -> None:
    """Start the forkserver now, so it imports trafilatura while the caller does other work.

    Returns at once; the first worker forked afterwards waits for the import to
    finish. Idempotent: a forkserver already running is kept.
    """
    multiprocessing.set_forkserver_preload(_preload())
    multiprocessing.forkserver.ensure_running()


def _preload() -> list[str]:
    """What the forkserver imports once for all the workers it forks.

    Besides `flows.warm`, a main module run by name: multiprocessing runs the
    parent's main module again in every new worker, and `python -m prefect.engine`
    (how a Prefect worker runs a deployment's flow) imports Prefect, ~1.5 CPU-s per
    worker per run; imported in the forkserver first, it costs each worker only
    the module's own body. A main script is run again too (preloading `__main__`
    does nothing on CPython 3.11: the forkserver is never given its path), which
    is why the `newswatch` script, also the main of the flow runs `newswatch serve`
    spawns, imports only `flows.entry`.
    """
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is None or name.endswith("__main__"):  # a script, or a package's, never re-run
        return [_WARM]
    return [_WARM, name]


@dataclass(frozen=True)
class _Raised:
    """A newswatch error crossing back from a worker.

    Its keyword-only constructor defeats pickle's rebuild from `args`, so the
    error travels as its class, args and attributes and is put together here.
    """

    kind: type[NewswatchError]
    args: tuple[Any, ...]
    state: dict[str, Any]

    def error(self) -> NewswatchError:
        error = self.kind.__new__(self.kind)
        error.args = self.args
        error.__dict__.update(self.state)
        return error


_rules: RuleSet | None = None  # in a worker: the rules it matches each article against


def _pickled(rules: RuleSet | None) -> bytes | None:
    """`rules` as the workers receive them: pickled once for all the workers of a pool,
    not once per worker started, which spent ~0.33 s of the event loop's time per worker
    with 10,000 rules."""
    if rules is None:
        return None
    with gc_paused():
        return pickle.dumps(rules, protocol=pickle.HIGHEST_PROTOCOL)


def _install(rules: bytes | None) -> None:
    """Worker initialiser: the rules arrive once per worker, not with every page,
    unpickled with the collector paused (0.60–0.90 s for 10,000 rules otherwise, 0.11–0.14
    without: see flows.gcpause). Their objects (~270,000 for 10,000 rules) live as long as
    the worker, so they are kept out of its garbage collections (~10 % faster matching,
    measured)."""
    global _rules
    with gc_paused():
        _rules = pickle.loads(rules) if rules is not None else None
    gc.freeze()


def _run(
    extractor: Extractor,
    body: bytes | str,
    kwargs: dict[str, Any],
    stories: StoryOptions | None,
) -> ArticleIn | _Raised:
    try:
        article = extractor(body, **kwargs)
    except NewswatchError as error:
        return _Raised(type(error), error.args, dict(error.__dict__))
    update: dict[str, Any] = {}
    if stories is not None:
        update["prepared"] = prepare(article.text, options=stories)
    if _rules is not None:
        found = _rules.matches_extracted(article)
        update["matched"] = tuple((rule.name, match) for rule, match in found)
    return article.model_copy(update=update) if update else article


class ExtractionPool:
    """`extract_article` on `workers` processes (all cores by default).

    `extractor` is the seam for tests: any module-level function with
    `extract_article`'s signature. With `stories`, each article comes back with
    its text hash and story fingerprint computed (`storage.prepare`), and with
    `rules`, with the rules it matches: the one process that stores articles
    does not spend its time on them.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        extractor: Extractor = extract_article,
        stories: StoryOptions | None = None,
        rules: RuleSet | None = None,
        start_method: str = "forkserver",
    ) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._extractor = extractor
        self._stories = stories
        self._rules = rules
        self._pickled_rules: bytes | None = None  # pickled for the first worker, sent to all
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._context.set_forkserver_preload(_preload())
        self._executor: ProcessPoolExecutor | None = None  # made for the first page
        self._open = False

    async def __aenter__(self) -> ExtractionPool:
        self._open = True
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._open = False
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def extract(
        self,
        body: bytes | str,
        *,
        url: str,
        source: str,
        fallback: Candidate | None = None,
        encoding: str | None = None,
        content_type: str | None = None,
    ) -> ArticleIn:
        """The article in `body`, as `extract_article` finds it, extracted in a worker."""
        kwargs = {
            "url": url,
            "source": source,
            "fallback": fallback,
            "encoding": encoding,
            "content_type": content_type,
        }
        executor = self._running()
        try:
            future = executor.submit(_run, self._extractor, body, kwargs, self._stories)
            outcome = await asyncio.wrap_future(future)
        except BrokenProcessPool:
            self._replace(executor)
            raise ExtractError("the extraction worker crashed", url=url) from None
        if isinstance(outcome, _Raised):
            raise outcome.error()
        return outcome

    async def warm_up(self) -> None:
        """Start every worker now rather than on the first pages."""
        executor = self._running()
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(executor, os.getpid) for _ in range(self.workers))
        )

    def _running(self) -> ProcessPoolExecutor:
        """The executor, made when the first page comes: a run with nothing to extract
        pickles no rules and starts no worker."""
        if not self._open:
            raise RuntimeError("use ExtractionPool in `async with`")
        if self._executor is None:
            self._executor = self._new_executor()
        return self._executor

    def _new_executor(self) -> ProcessPoolExecutor:
        if self._rules is not None and self._pickled_rules is None:
            self._pickled_rules = _pickled(self._rules)
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._context,
            initializer=_install,
            initargs=(self._pickled_rules,),
        )

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A fresh executor for the next pages, once per breakage however many pages saw it."""
        if self._executor is broken:
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
