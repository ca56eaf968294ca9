"""SQLite engines: processes (here, threads with their own connections) sharing one file."""

from __future__ import annotations

import threading
from pathlib import Path

from storage import make_engine

OPENERS = 4
ROUNDS = 100  # without the retry, ~1 round in 9 failed on the 2-core CI machine


def _connect(url: str, start: threading.Barrier, errors: list[str]) -> None:
    engine = make_engine(url)
    start.wait()
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception as error:
        errors.append(str(error).splitlines()[0])
    finally:
        engine.dispose()


def test_connections_opening_a_new_file_at_the_same_moment_all_get_in(tmp_path: Path) -> None:
    """Each first connection switches the new file to WAL; SQLite refuses all but one at
    once, without waiting out the busy timeout, so the others must try again."""
    errors: list[str] = []
    for round_ in range(ROUNDS):
        url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
        start = threading.Barrier(OPENERS)
        openers = [
            threading.Thread(target=_connect, args=(url, start, errors)) for _ in range(OPENERS)
        ]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()
    assert errors == []
