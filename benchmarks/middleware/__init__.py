"""Middleware overhead: a real uvicorn server and ``wrk`` on loopback."""
