"""Modules run as a main program by `tests/flows/test_pool_imports.py`."""
