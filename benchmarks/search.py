"""Full-text search on SQLite and PostgreSQL: latency beside a LIKE scan, the
index's size, and what keeping it adds to an append.

Two datasets, each on a fresh store (an SQLite file in a temporary folder; a
PostgreSQL schema of its own in database ``test`` on 127.0.0.1, dropped
afterwards):

- *one user*: one user's 1,000 sessions x 100 messages (100,000 messages);
- *10k users*: 10,000 users x 10 sessions x 10 messages (1,000,000
  messages), of which one user's 100 are searched.

The messages alternate user and assistant; their text is 6 to 60 words
(about 180 characters) drawn from a 50,000-word vocabulary with Zipf's law
(the word of rank r with weight 1/r): English's commonest words first, a
support desk's words among them, then made-up words, so a few words are in
almost every message and most are rare (``Corpus``; seeded, so every run
writes the same text). Each session is one ``create`` and one ``extend``,
by ``WRITERS`` concurrent async writers (the fill is not timed).

Measured, per store and dataset:

- *search*: ``manager.search(query, user_id=<the user>, limit=10)`` for a
  rare word (the rarest the user wrote in at least 3 messages, 1 in the 10k
  users' set), a common word (``the``, in most messages) and two words
  (``order refund``); beside it the query an application without search
  would run: the user's messages whose JSON text holds every word
  (SQLite ``data LIKE '%word%'``, PostgreSQL ``data::text ILIKE '%word%'``),
  newest 10 first. Median and 95th percentile of ``--repeat`` samples
  (default 30), each timed on its own after one untimed call; garbage
  collection on;
- *index size*: SQLite, pages of each table and index (``dbstat``): the FTS5
  index (its ``_data`` and ``_idx`` tables), the FTS5 table's own copy of the
  text (``_content``, ``_docsize``) and the entries table with its indexes;
  PostgreSQL, after ``VACUUM ANALYZE``: the GIN index (and, at the end, its
  size after ``REINDEX``), the stored ``tsvector`` column (its
  ``pg_column_size`` summed), the entry table (heap, then with TOAST and
  indexes);
- *append overhead*: on one of the user's sessions, appends of a message
  (indexed) alternating with ``append_entry("note", <the same data>)`` (not
  indexed: only messages are), ``--appends`` of each (default 200): median
  and mean (the mean carries the index's occasional merges).

    python -m benchmarks.search [--quick] [--stores sqlite,postgres]
                                [--datasets one-user,10k-users] [--repeat 30]
                                [--appends 200]
    python -m benchmarks.search --report    # the last run's tables again

The full run takes about 6 minutes on the 2-core machine (mostly the two
fills of 1,000,000 messages); ``--quick`` (small datasets, 5 samples) about
15 seconds.

Tables in Markdown on stdout, raw figures in ``.bench/results-search.json``;
``docs/benchmarks.md``, "Search", quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import itertools
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from agentsession import AsyncSessionManager, SessionManager

from .groups import POSTGRES_DSN
from .growth import ROOT, samples
from .harness import MIN_SAMPLES
from .report import fmt_time
from .scratch import drop, pg_schema, scratch_url

AGENT = "support"
STORES = ("sqlite", "postgres")
VOCABULARY = 50_000
SEED = 20261204
WRITERS = 8  # concurrent writers while filling

# English's commonest words, most frequent first: the head of the Zipf ranks.
_ENGLISH = (
    "the of and to a in is it you that he was for on are with as i his they be at one have "
    "this from or had by not but what some we can out other were all there when up use your "
    "how said an each she which do their time if will way about many then them write would "
    "like so these her long make thing see him two has look more day could go come did number "
    "sound no most people my over know water than call first who may down side been now find "
    "any new work part take get place made live where after back little only round man year "
    "came show every good me give our under name very through just form sentence great think "
    "say help low line differ turn cause much mean before move right boy old too same tell "
    "does set three want air well also play small end put home read hand port large spell add "
    "even land here must big high such follow act why ask men change went light kind off need "
    "house picture try us again animal point mother world near build self earth father"
)
ENGLISH = _ENGLISH.split()
# A support desk's words, placed among them from rank 40 on, one every 12 ranks.
_DOMAIN = (
    "order refund shipping delivery invoice account password payment customer agent parcel "
    "address tracking warehouse depot delayed cancel subscription discount receipt"
)
DOMAIN = _DOMAIN.split()
_SOUNDS = (
    "b c d f g h j k l m n p r s t v w z br ch cl dr fl gr pl pr sh st th tr",
    "a e i o u ai ea ou",
    "- - - n r s l t m nd st",
)
ONSETS, VOWELS, CODAS = ([s.strip("-") for s in part.split()] for part in _SOUNDS)

RARE, COMMON, TWO = "rare word", "common word", "two words"
COMMON_QUERY, TWO_QUERY = "the", "order refund"


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    users: int
    sessions: int  # per user
    messages: int  # per session
    rare_at_least: int  # the rare word: in at least this many of the user's messages

    @property
    def total(self) -> int:
        return self.users * self.sessions * self.messages

    @property
    def searched(self) -> str:
        return user_id(self.users // 2)


def user_id(n: int) -> str:
    return f"user-{n:05d}"


DATASETS = {
    "one-user": Dataset("one-user", 1, 1_000, 100, 3),
    "10k-users": Dataset("10k-users", 10_000, 10, 10, 1),
}
QUICK = {
    "one-user": Dataset("one-user", 1, 50, 100, 3),
    "10k-users": Dataset("10k-users", 200, 10, 10, 1),
}


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """``size`` distinct words by rank: English, the desk's words, made-up ones."""
    words = list(ENGLISH)
    for i, word in enumerate(DOMAIN):
        words.insert(40 + 12 * i, word)
    seen = set(words)
    while len(words) < size:
        made = "".join(
            rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
            for _ in range(rng.randint(2, 3))
        )
        if made not in seen:
            seen.add(made)
            words.append(made)
    return words


class Corpus:
    """Deterministic chat text: ``message(n)`` gives the n-th message and its
    distinct words, in the order they are asked for."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(VOCABULARY, self.rng)
        self.rank = {word: r for r, word in enumerate(self.words)}
        self.cum = list(itertools.accumulate(1.0 / (r + 1) for r in range(len(self.words))))

    def message(self, n: int) -> tuple[dict[str, Any], set[str]]:
        rng = self.rng
        drawn = rng.choices(self.words, cum_weights=self.cum, k=rng.randint(6, 60))
        sentences = []
        start = 0
        while start < len(drawn):
            end = start + rng.randint(5, 12)
            sentences.append(" ".join(drawn[start:end]).capitalize() + rng.choice(".....?"))
            start = end
        role = "user" if n % 2 == 0 else "assistant"
        return {"role": role, "content": " ".join(sentences)}, set(drawn)


@dataclasses.dataclass
class Filled:
    """What the fill wrote for the searched user."""

    session_ids: list[str]
    df: Counter[str]  # in how many of the user's messages each word is
    both: int  # the user's messages holding both words of TWO_QUERY
    seconds: float


async def _fill(url: str, data: Dataset, corpus: Corpus, log: Callable[[str], None]) -> Filled:
    searched = data.searched
    got = Filled([], Counter(), 0, 0.0)
    pair = set(TWO_QUERY.split())
    started = time.perf_counter()
    async with AsyncSessionManager(url) as manager:
        todo: asyncio.Queue[tuple[str, list[dict[str, Any]]] | None] = asyncio.Queue(WRITERS * 2)

        async def writer() -> None:
            while (item := await todo.get()) is not None:
                user, batch = item
                session = await manager.create(AGENT, user_id=user)
                await session.extend(batch)
                if user == searched:
                    got.session_ids.append(session.id)

        writers = [asyncio.create_task(writer()) for _ in range(WRITERS)]
        n = 0
        for u in range(data.users):
            user = user_id(u)
            for _ in range(data.sessions):
                batch = []
                for _ in range(data.messages):
                    msg, words = corpus.message(n)
                    n += 1
                    batch.append(msg)
                    if user == searched:
                        got.df.update(words)
                        got.both += pair <= words
                await todo.put((user, batch))
            if data.users > 1 and (u + 1) % (data.users // 10) == 0:
                log(f"    {u + 1:,} users, {time.perf_counter() - started:.0f} s")
        for _ in writers:
            await todo.put(None)
        await asyncio.gather(*writers)
    got.seconds = time.perf_counter() - started
    return got


def fill(url: str, data: Dataset, corpus: Corpus, log: Callable[[str], None]) -> Filled:
    """Write ``data``: each session one ``create`` and one ``extend``, by
    ``WRITERS`` concurrent writers (the fill is not timed: on PostgreSQL,
    concurrent commits share their WAL flushes)."""
    return asyncio.run(_fill(url, data, corpus, log))


def queries(data: Dataset, corpus: Corpus, filled: Filled) -> list[tuple[str, str, int]]:
    """(label, query, the user's messages matching it)."""
    rare = max(
        (w for w, c in filled.df.items() if c >= data.rare_at_least),
        key=lambda w: corpus.rank[w],
    )
    return [
        (RARE, rare, filled.df[rare]),
        (COMMON, COMMON_QUERY, filled.df[COMMON_QUERY]),
        (TWO, TWO_QUERY, filled.both),
    ]


# -- the LIKE scan: what an application without search would run -------------


def like_sqlite(path: str) -> tuple[Callable[[str, list[str]], list[Any]], Callable[[], None]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def scan(user: str, words: list[str]) -> list[Any]:
        likes = "".join(" AND e.data LIKE ?" for _ in words)
        rows = db.execute(
            "SELECT s.id, e.id, e.data FROM agentsession_entries e"
            " JOIN agentsession_sessions s ON s.pk = e.session_pk"
            f" WHERE s.user_id = ? AND e.kind = 'message'{likes}"
            " ORDER BY e.created_at DESC LIMIT 10",
            [user, *(f"%{w}%" for w in words)],
        ).fetchall()
        return [(sid, eid, json.loads(data)) for sid, eid, data in rows]

    return scan, db.close


def like_postgres(schema: str) -> tuple[Callable[[str, list[str]], list[Any]], Callable[[], None]]:
    import psycopg

    conn = psycopg.connect(POSTGRES_DSN, autocommit=True)

    def scan(user: str, words: list[str]) -> list[Any]:
        likes = "".join(" AND e.data::text ILIKE %s" for _ in words)
        return conn.execute(
            f'SELECT s.id, e.id, e.data FROM "{schema}".agentsession_entry e'
            f' JOIN "{schema}".agentsession_session s ON s.pk = e.session_pk'
            f" WHERE s.user_id = %s AND e.kind = 'message'{likes}"
            " ORDER BY e.created_at DESC LIMIT 10",
            [user, *(f"%{w}%" for w in words)],
        ).fetchall()

    return scan, conn.close


# -- sizes ---------------------------------------------------------------------


def sizes_sqlite(path: str) -> dict[str, int]:
    """Bytes of pages, by what they hold (``dbstat``)."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
        page = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.close()
    out = {"fts_index": 0, "fts_text": 0, "entries": 0, "entries_indexes": 0, "file": page * pages}
    for name, size in rows:
        if name in ("agentsession_search_data", "agentsession_search_idx"):
            out["fts_index"] += size
        elif name.startswith("agentsession_search"):
            out["fts_text"] += size
        elif name == "agentsession_entries":
            out["entries"] += size
        elif name.startswith("agentsession_entries_"):
            out["entries_indexes"] += size
    return out


def analyze_postgres(schema: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        for table in ("agentsession_entry", "agentsession_session"):
            conn.execute(f'VACUUM ANALYZE "{schema}".{table}')


def sizes_postgres(schema: str) -> dict[str, int]:
    import psycopg

    table, gin = f'"{schema}".agentsession_entry', f'"{schema}".agentsession_entry_search'
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        got = conn.execute(
            "SELECT pg_relation_size(%s), pg_total_relation_size(%s), pg_indexes_size(%s),"
            " pg_relation_size(%s)",
            (table, table, table, gin),
        ).fetchone()
        cols = conn.execute(
            f"SELECT sum(pg_column_size(search)), sum(pg_column_size(data)) FROM {table}"
        ).fetchone()
    assert got is not None and cols is not None
    heap, total, indexes, gin_size = got
    return {
        "gin": gin_size,
        "tsvector": int(cols[0] or 0),
        "data": int(cols[1] or 0),
        "heap": heap,
        "indexes": indexes,
        "total": total,
    }


# -- timing --------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # untimed: caches, connections, plans
    gc.collect()
    return samples(fn, repeat)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def append_overhead(
    manager: SessionManager, session_id: str, corpus: Corpus, count: int
) -> dict[str, list[float]]:
    """``count`` message appends alternating with ``count`` note appends of
    the same data (which one goes first alternates too)."""
    session = manager.get(session_id)
    times: dict[str, list[float]] = {"message": [], "note": []}
    writers: dict[str, Callable[[dict[str, Any]], Any]] = {
        "message": session.append,
        "note": lambda data: session.append_entry("note", data),
    }
    gc.collect()
    for i in range(count):
        data, _ = corpus.message(i)
        for kind in ("message", "note") if i % 2 == 0 else ("note", "message"):
            start = time.perf_counter()
            writers[kind](data)
            times[kind].append(time.perf_counter() - start)
    return times


# -- one store, one dataset ----------------------------------------------------

Scan = Callable[[str, list[str]], list[Any]]


def prepare(kind: str, url: str) -> tuple[dict[str, int], Scan, Callable[[], None]]:
    """Statistics gathered (as a database in use has them); the sizes; the
    LIKE scan and what closes it."""
    if kind == "postgres":
        schema = pg_schema(url)
        analyze_postgres(schema)
        return sizes_postgres(schema), *like_postgres(schema)
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute("ANALYZE")
    db.close()
    return sizes_sqlite(path), *like_sqlite(path)


def rebuilt_gin(schema: str) -> int:
    """The GIN index's size built afresh: without the pages its pending list
    (GIN's fast update) used and freed while the rows came in."""
    import psycopg

    gin = f'"{schema}".agentsession_entry_search'
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f"REINDEX INDEX {gin}")
        got = conn.execute("SELECT pg_relation_size(%s)", (gin,)).fetchone()
    assert got is not None
    return int(got[0])


def time_queries(
    manager: SessionManager,
    user: str,
    asked: list[tuple[str, str, int]],
    scan: Scan,
    repeat: int,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    out = []
    for label, query, matches in asked:
        hits = manager.search(query, user_id=user, limit=10)
        if len(hits) != min(10, matches):
            log(f"  !!! {label} {query!r}: {len(hits)} hits, {matches} matching")
        searched = timed(partial(manager.search, query, user_id=user, limit=10), repeat)
        scanned = timed(partial(scan, user, query.split()), repeat)
        out.append(
            {
                "label": label,
                "query": query,
                "matches": matches,
                "hits": len(hits),
                "search": searched,
                "like": scanned,
            }
        )
        log(
            f"    {label} {query!r} ({matches} matching): search "
            f"{fmt_time(statistics.median(searched))}, LIKE {fmt_time(statistics.median(scanned))}"
        )
    return out


def measure(
    kind: str, data: Dataset, directory: Path, repeat: int, appends: int, log: Callable[[str], None]
) -> dict[str, Any]:
    url = scratch_url(kind, directory, f"search-{data.name}", "bench_search")
    corpus = Corpus()
    result: dict[str, Any] = {"store": kind, "dataset": data.name, "messages": data.total}
    try:
        log(f"  {kind} {data.name}: filling {data.total:,} messages")
        filled = fill(url, data, corpus, log)
        result["fill_s"] = filled.seconds
        log(f"  {kind} {data.name}: filled in {filled.seconds:.0f} s")
        with SessionManager(url) as manager:
            result["sizes"], scan, close = prepare(kind, url)
            try:
                asked = queries(data, corpus, filled)
                result["queries"] = time_queries(manager, data.searched, asked, scan, repeat, log)
            finally:
                close()
            result["appends"] = append_overhead(manager, filled.session_ids[-1], corpus, appends)
        if kind == "postgres":
            result["sizes"]["gin_rebuilt"] = rebuilt_gin(pg_schema(url))
    finally:
        drop(url)
    return result


# -- tables --------------------------------------------------------------------


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def head(text: str) -> list[str]:
    """A table's heading, ``text`` being its cells joined by ``" | "``."""
    return [f"| {text} |", "|" + "---|" * len(text.split(" | "))]


def latency_table(results: list[dict[str, Any]]) -> Iterator[str]:
    yield from head(
        "store | dataset | query | user's messages matching | search (p95) | LIKE scan (p95)"
        " | LIKE / search"
    )
    for r in results:
        for q in r["queries"]:
            s, like = statistics.median(q["search"]), statistics.median(q["like"])
            yield row(
                r["store"],
                r["dataset"],
                f"{q['label']}: `{q['query']}`",
                f"{q['matches']:,}",
                f"{fmt_time(s)} ({fmt_time(p95(q['search']))})",
                f"{fmt_time(like)} ({fmt_time(p95(q['like']))})",
                f"{like / s:.3g}x",
            )


def size_table(results: list[dict[str, Any]]) -> Iterator[str]:
    yield from head(
        "store | dataset | messages | search index | text kept for it"
        " | search's share of the store | entries | whole store"
    )
    for r in results:
        z = r["sizes"]
        if r["store"] == "sqlite":
            index, kept, whole = z["fts_index"], z["fts_text"], z["file"]
            index_s = mb(index)
            kept_s = f"{mb(kept)} (the FTS5 table's copy)"
            table = f"{mb(z['entries'])} + {mb(z['entries_indexes'])} indexes"
        else:
            index, kept, whole = z["gin"], z["tsvector"], z["total"]
            index_s = f"{mb(index)} ({mb(z['gin_rebuilt'])} rebuilt)"
            kept_s = f"{mb(kept)} (tsvector column)"
            table = f"{mb(z['heap'])} heap + {mb(z['indexes'] - index)} other indexes"
        yield row(
            r["store"],
            r["dataset"],
            f"{r['messages']:,}",
            index_s,
            kept_s,
            f"{(index + kept) / whole:.0%}",
            table,
            mb(whole),
        )


def append_table(results: list[dict[str, Any]]) -> Iterator[str]:
    yield from head(
        "store | dataset | message (indexed): median, mean"
        " | note, same data (not indexed): median, mean | ratio of medians, of means"
    )
    for r in results:
        m, n = r["appends"]["message"], r["appends"]["note"]
        mid = [statistics.median(m), statistics.median(n)]
        avg = [statistics.mean(m), statistics.mean(n)]
        yield row(
            r["store"],
            r["dataset"],
            f"{fmt_time(mid[0])}, {fmt_time(avg[0])}",
            f"{fmt_time(mid[1])}, {fmt_time(avg[1])}",
            f"{mid[0] / mid[1]:.2f}x, {avg[0] / avg[1]:.2f}x",
        )


RESULTS = ROOT / ".bench" / "results-search.json"


def main(stores: list[str], datasets: list[Dataset], repeat: int, appends: int) -> None:
    def log(text: str) -> None:
        print(text, flush=True)

    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="search-") as tmp:
        for data in datasets:
            for kind in stores:
                results.append(measure(kind, data, Path(tmp), repeat, appends, log))
                gc.collect()
    payload = {
        "repeat": repeat,
        "appends": appends,
        "elapsed_s": time.perf_counter() - started,
        "load": [load_before, os.getloadavg()[0]],
        "results": results,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=1))
    report(payload)


def report(payload: dict[str, Any]) -> None:
    """The tables of a run (``--report`` prints those of the last saved one)."""
    print()
    for table in (latency_table, size_table, append_table):
        for line in table(payload["results"]):
            print(line)
        print()
    load = payload.get("load")
    print(
        f"({payload['elapsed_s'] / 60:.1f} min; medians of {payload['repeat']} samples, "
        f"{payload.get('appends', 200)} appends of each kind"
        + (f"; 1-minute load {load[0]:.1f} before, {load[1]:.1f} after)" if load else ")")
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small datasets")
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument("--report", action="store_true", help="reprint the last run's tables")
    args = parser.parse_args()
    if args.report:
        report(json.loads(RESULTS.read_text()))
        raise SystemExit
    chosen = [s.strip() for s in args.stores.split(",") if s.strip()]
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if not set(chosen) <= set(STORES) or not set(names) <= DATASETS.keys():
        parser.error(f"--stores takes {', '.join(STORES)}; --datasets {', '.join(DATASETS)}")
    if not args.quick and min(args.repeat, args.appends) < MIN_SAMPLES:
        parser.error(f"a published figure needs at least {MIN_SAMPLES} samples")
    table = QUICK if args.quick else DATASETS
    main(
        chosen,
        [table[n] for n in names],
        5 if args.quick else args.repeat,
        20 if args.quick else args.appends,
    )
