"""Records each process that imports it, in the file named by NEWSWATCH_IMPORTS_LOG:
a stand-in for what a main module costs to import (Prefect, the CLI)."""

import os

with open(os.environ["NEWSWATCH_IMPORTS_LOG"], "a", encoding="utf-8") as log:
    log.write(f"{os.getpid()}\n")
