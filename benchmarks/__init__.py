"""Benchmarks for agentsession beside the libraries users pick instead.

Run from the repository root (see ``docs/benchmarks.md``)::

    .venv-bench/bin/python -m benchmarks.run            # full run, writes docs/benchmarks.md
    .venv-bench/bin/python -m benchmarks.run --quick    # smoke run

These are scripts a person runs; nothing here is a timed test.
"""
