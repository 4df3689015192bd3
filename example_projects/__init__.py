"""Runnable examples of agentsession: a plain script and three chat apps.

Run them from the repository root (see ``example_projects/README.md``).
"""
