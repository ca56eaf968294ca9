"""The `newswatch` console script's entry point, which imports the CLI only when called.

multiprocessing runs a script's module-level imports again in the extraction
forkserver (see `flows.pool`), so the script imports nothing more than this
module: importing `flows.cli` there would load Prefect, Typer and the store in
a process that only extracts articles.
"""

from __future__ import annotations


def main() -> None:
    """Console-script entry point: the `newswatch` CLI (`flows.cli`)."""
    from flows.cli import main as cli

    cli()
