"""The ``agentsession`` command, run as users run it: the installed console
script and ``python -m agentsession``, in a subprocess, on real stores."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsession import SessionManager
from agentsession.store import same_export
from tests.core.cli.seed import seed
from tests.services import fresh_store_url

pytest.importorskip("click", reason="the cli extra is not installed (pip install -e '.[cli]')")
pytest.importorskip("rich", reason="the cli extra is not installed (pip install -e '.[cli]')")

SCRIPT = Path(sys.executable).parent / "agentsession"


def run(
    *args: str,
    module: bool = False,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """One run of the command: the console script, or ``python -m agentsession``."""
    command = [sys.executable, "-m", "agentsession"] if module else [str(SCRIPT)]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=cwd,
        env=_env(env),
        timeout=120,
    )


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AGENTSESSION_CONFIG", "AGENTSESSION_STORE_URL")
    }
    return {**env, **(extra or {})}


def data(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(params=["sqlite", "file", "redis", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from fresh_store_url(request.param, tmp_path / "store")


def test_both_entry_points_answer(tmp_path: Path) -> None:
    for module in (False, True):
        result = run("--help", module=module, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        for command in ("ls", "show", "export", "import", "migrate", "prune", "verify", "stats"):
            assert command in result.stdout
        assert "Exit codes" in result.stdout


def test_every_command_on_every_store(store: str, tmp_path: Path) -> None:
    ids = seed(store)
    at = ["--store", store, "--json"]
    rows = data(run("ls", *at, cwd=tmp_path))
    assert sorted(r["id"] for r in rows) == sorted(ids.values())
    assert [r["updated_at"] for r in rows] == sorted((r["updated_at"] for r in rows), reverse=True)
    helper = data(run("ls", "--agent", "helper", *at, cwd=tmp_path))
    assert [r["id"] for r in helper] == [ids["bob"]]
    alices = data(run("ls", "--user", "alice", *at, cwd=tmp_path))
    assert [r["id"] for r in alices] == [ids["alice"]]
    paged = data(run("ls", "--limit", "1", "--offset", "1", *at, module=True, cwd=tmp_path))
    assert [r["id"] for r in paged] == [rows[1]["id"]]

    shown = data(run("show", ids["alice"], *at, module=True, cwd=tmp_path))
    assert [m["data"]["content"] for m in shown["messages"]] == ["My name is Alice.", "Hi there."]
    assert len(shown["branches"]) == 2
    assert [c["name"] for c in shown["checkpoints"]] == ["named"]
    assert shown["state"] == {"step": 2}
    assert len(shown["entries"]) == 5
    human = run("show", ids["alice"], "--store", store, cwd=tmp_path)
    assert human.returncode == 0 and "Hello Alice!" in human.stdout and "branch 2" in human.stdout

    dump = tmp_path / "all.jsonl"
    assert data(run("export", "-o", str(dump), *at, cwd=tmp_path))["exported"] == 3
    assert len(dump.read_text().splitlines()) == 3
    assert dump.stat().st_mode & 0o777 == 0o600  # conversations: the owner's eyes only
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    assert data(run("import", str(dump), "--store", copy, "--json", cwd=tmp_path))["imported"] == 3
    with SessionManager(store) as source, SessionManager(copy) as target:
        for session_id in ids.values():
            assert same_export(source.export_session(session_id), target.export_session(session_id))

    stats = data(run("stats", *at, cwd=tmp_path))
    assert stats["total"]["sessions"] == 3 and stats["total"]["entries"] == 5 + 3 + 1
    assert stats["by_agent"]["helper"]["entries"] == 3
    assert data(run("verify", *at, cwd=tmp_path)) == {
        "checked": 3,
        "damaged_sessions": [],
        "damage": [],
        "ok": True,
    }
    checks = {c["check"]: c["status"] for c in data(run("doctor", *at, cwd=tmp_path))["checks"]}
    has_schema = store.startswith(("sqlite", "postgresql"))
    assert checks == {
        "config": "ok",
        "store": "ok",
        "schema": "ok" if has_schema else "skip",
        "clock": "ok",
    }
    newest = ["--keep-newest", "1", "--per", "agent"]  # assistant has two sessions
    assert data(run("prune", *newest, "--dry-run", *at, cwd=tmp_path)) == {
        "pruned": 1,
        "dry_run": True,
    }
    assert data(run("prune", *newest, *at, cwd=tmp_path)) == {"pruned": 1, "dry_run": False}
    assert len(data(run("ls", *at, cwd=tmp_path))) == 2


def test_verify_names_the_session_and_entry_with_a_flipped_byte(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    ids = seed(f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:
        entry_id, text = conn.execute(
            "SELECT id, data FROM agentsession_entries WHERE data LIKE '%My name is Alice%'"
        ).fetchone()
        raw = bytearray(text.encode("utf-8"))
        at = raw.index(b"Alice")
        raw[at] ^= 0x01  # "A" -> "@": still valid JSON, no longer the recorded data
        conn.execute(
            "UPDATE agentsession_entries SET data = ? WHERE id = ?", (raw.decode(), entry_id)
        )
    result = run("verify", "--store", f"sqlite:///{db}", "--json", cwd=tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["checked"] == 3
    assert report["damaged_sessions"] == [ids["alice"]]
    assert [(d["record"], d["id"]) for d in report["damage"]] == [("entry", entry_id)]
    human = run("verify", "--store", f"sqlite:///{db}", module=True, cwd=tmp_path)
    assert human.returncode == 1
    assert ids["alice"] in human.stdout and entry_id in human.stdout


def test_an_interrupted_migration_resumes_to_an_identical_copy(tmp_path: Path) -> None:
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    total = 1200
    with SessionManager(f"sqlite:///{source}") as manager:
        for i in range(total):
            session = manager.create("assistant", user_id=f"user{i % 7}")
            session.extend(
                [{"role": "user", "content": f"{i}"}, {"role": "assistant", "content": "ok"}]
            )
    args = ["migrate", f"sqlite:///{source}", f"sqlite:///{target}"]
    process = subprocess.Popen(
        [str(SCRIPT), *args], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while _count(target) == 0:  # the first sessions are in: the migration is under way
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "run the same command again" in err and "copied so far" in err
    first = _count(target)
    assert 0 < first < total  # stopped mid-run

    report = data(run(*args, "--json", cwd=tmp_path))
    assert report["ok"] is True
    assert report["skipped"] >= first and report["copied"] + report["skipped"] == total
    with SessionManager(f"sqlite:///{source}") as a, SessionManager(f"sqlite:///{target}") as b:
        ids = [info.id for info in a.list(limit=total)]
        assert len(ids) == total == len(b.list(limit=total))
        for session_id in ids:
            assert same_export(a.export_session(session_id), b.export_session(session_id))


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM agentsession_sessions").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def test_import_checks_each_session_before_writing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    ids = seed(url)
    dump = tmp_path / "all.jsonl"
    run("export", "-o", str(dump), "--store", url, cwd=tmp_path)
    lines = dump.read_text().splitlines()
    tampered = json.loads(lines[0])
    tampered["entries"][0]["data"]["content"] = "something else"
    victim = tampered["session"]["id"]
    dump.write_text("\n".join([json.dumps(tampered), *lines[1:], "not json"]) + "\n")
    target = f"sqlite:///{tmp_path / 't.db'}"
    checked = run("import", str(dump), "--check", "--store", target, "--json", cwd=tmp_path)
    assert checked.returncode == 1
    assert json.loads(checked.stdout)["checked"] == 2
    result = run("import", str(dump), "--store", target, "--json", cwd=tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["imported"] == 2 and not report["ok"]
    assert "IntegrityError" in report["failed"][victim] and "line 4" in report["failed"]
    with SessionManager(target) as manager:
        assert sorted(i.id for i in manager.list()) == sorted(set(ids.values()) - {victim})
    # From stdin: what is there is skipped; a different session under a taken id
    # is a conflict, left alone.
    changed = json.loads(lines[1])
    changed["session"]["metadata"] = {"changed": True}
    again = run("import", "-", "--store", target, "--json", cwd=tmp_path,
                stdin="\n".join([*lines[1:], json.dumps(changed)]) + "\n")  # fmt: skip
    assert again.returncode == 1
    report = json.loads(again.stdout)
    assert (report["imported"], report["skipped"]) == (0, 2)
    assert report["conflicts"] == [changed["session"]["id"]]


def test_usage_errors_and_problems_have_their_exit_codes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert run("ls", "--no-such-option", cwd=tmp_path).returncode == 2
    assert run("show", cwd=tmp_path).returncode == 2
    missing = run("show", "AAAAAAAAAAAAAAAAAAAAAA", "--store", url, "--json", cwd=tmp_path)
    assert missing.returncode == 1
    assert json.loads(missing.stdout)["error"] == "SessionNotFound"
    bad_id = run("show", "../etc/passwd", "--store", url, cwd=tmp_path)
    assert bad_id.returncode == 2 and "InvalidInput" in bad_id.stderr
    (tmp_path / "agentsession.toml").write_text('ttl = "soon"\n')
    bad = run("ls", cwd=tmp_path)
    assert bad.returncode == 2
    assert "agentsession.toml" in bad.stderr and "ttl" in bad.stderr


def test_the_store_comes_from_option_config_environment_default(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"AGENTSESSION_DIR": str(home)}
    seed(f"sqlite:///{tmp_path / 'from-config.db'}")
    seed(f"sqlite:///{tmp_path / 'from-env.db'}")
    seed(f"sqlite:///{home / 'sessions.db'}")
    option = f"sqlite:///{tmp_path / 'from-option.db'}"
    seed(option)

    def source(**extra: str) -> str:
        checks = data(run("doctor", "--json", cwd=tmp_path, env={**env, **extra}))["checks"]
        return str(next(c["detail"] for c in checks if c["check"] == "store"))

    assert f"{home / 'sessions.db'}" in source() and "the default" in source()
    assert "from-env.db" in source(AGENTSESSION_STORE_URL=f"sqlite:///{tmp_path}/from-env.db")
    (tmp_path / "agentsession.yaml").write_text(f"store: sqlite:///{tmp_path}/from-config.db\n")
    found = source(AGENTSESSION_STORE_URL=f"sqlite:///{tmp_path}/from-env.db")
    assert "from-config.db" in found and "agentsession.yaml" in found
    by_option = run("ls", "--store", option, "--json", cwd=tmp_path, env=env)
    assert len(data(by_option)) == 3


def test_passwords_are_never_printed(tmp_path: Path) -> None:
    secret = "s3cret-pw"
    url = f"redis://user:{secret}@127.0.0.1:1/0"
    for args in (["ls"], ["doctor", "--json"], ["ls", "--json"]):
        result = run(*args, "--store", url, cwd=tmp_path)
        assert result.returncode == 1
        assert secret not in result.stdout + result.stderr
    checks = json.loads(run("doctor", "--json", "--store", url, cwd=tmp_path).stdout)["checks"]
    assert "redis://user:***@127.0.0.1:1/0" in checks[1]["detail"]


def test_verify_names_a_checkpoint_whose_checksum_is_wrong(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    ids = seed(f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:
        point_id, checksum = conn.execute(
            "SELECT id, checksum FROM agentsession_checkpoints"
        ).fetchone()
        flipped = ("B" if checksum[0] == "A" else "A") + checksum[1:]
        conn.execute("UPDATE agentsession_checkpoints SET checksum = ?", (flipped,))
    result = run("verify", "--store", f"sqlite:///{db}", "--json", cwd=tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["damaged_sessions"] == [ids["alice"]]
    assert [(d["record"], d["id"]) for d in report["damage"]] == [("checkpoint", point_id)]


def test_ls_since(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    seed(url)
    assert len(data(run("ls", "--since", "1h", "--store", url, "--json", cwd=tmp_path))) == 3
    future = run("ls", "--since", "2999-01-01", "--store", url, "--json", cwd=tmp_path)
    assert data(future) == []
    assert run("ls", "--since", "whenever", "--store", url, cwd=tmp_path).returncode == 2


def test_an_id_starting_with_a_dash_is_an_id(tmp_path: Path) -> None:
    # Generated ids are base64url: one in 32 starts with "-", some with "-h" or "-o".
    url = f"sqlite:///{tmp_path / 's.db'}"
    names = ["-hV1wH9pPLOo1hIbfpIHC9Q", "-oV1wH9pPLOo1hIbfpIHC9Q", "-V1wH9pPLOo1hIbfpIHC9Q"]
    with SessionManager(url) as manager:
        for name in names:
            manager.create("assistant", session_id=name).append({"role": "user", "content": name})
    for name in names:
        shown = data(run("show", name, "--store", url, "--json", cwd=tmp_path))
        assert shown["session"]["id"] == name
        exported = run("export", "--store", url, name, cwd=tmp_path)
        assert json.loads(data_line(exported))["session"]["id"] == name
    assert (tmp_path / "V1wH9pPLOo1hIbfpIHC9Q").exists() is False  # -o... was no output file
    spelled = data(run("show", "--store", url, "--json", "--", names[0], cwd=tmp_path))
    assert spelled["session"]["id"] == names[0]


def data_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    return line


def test_rekey_through_the_config_file(store: str, tmp_path: Path) -> None:
    pytest.importorskip("cryptography", reason="the crypto extra is not installed")
    from agentsession.sealed import MARK, KeyRing, SealedStore

    old, new = KeyRing.generate(), KeyRing.generate()
    (tmp_path / "agentsession.toml").write_text(
        f'store = "{store}"\n'
        '[encryption]\nkeys_env = "TEST_RING"\n'
        '[compression]\nalgorithm = "zlib"\n'
    )
    ring = {"TEST_RING": f"k1:{old}"}
    with SessionManager(SealedStore(store, keys=KeyRing([("k1", old)]))) as manager:
        ids = [manager.create("bot").id for _ in range(3)]
        for session_id in ids:
            manager.get(session_id).extend([{"role": "user", "content": "secret words"}] * 2)
    # Read through the config: the ring from the environment.
    listed = data(run("ls", "--json", cwd=tmp_path, env=ring))
    assert sorted(r["id"] for r in listed) == sorted(ids)
    rotated = {"TEST_RING": f"k2:{new},k1:{old}"}
    first = data(run("rekey", "--json", cwd=tmp_path, env=rotated))
    assert (first["resealed"], first["current"], first["failed"]) == (3, 0, {})
    again = data(run("rekey", "--json", cwd=tmp_path, env=rotated))
    assert (again["resealed"], again["current"]) == (0, 3)
    # k1 may now leave the ring.
    only_new = {"TEST_RING": f"k2:{new}"}
    assert data(run("verify", "--json", cwd=tmp_path, env=only_new))["ok"]
    sealed = SealedStore(store, keys=KeyRing([("k2", new)]))
    with SessionManager(sealed) as m:
        stored = sealed.inner.export_session(ids[0], now=m.now())
        assert {e.data[MARK].split(".")[1] for e in stored.entries} == {"k2"}
    missing = run("rekey", "--json", cwd=tmp_path, env={"TEST_RING": f"k3:{new}"})
    assert missing.returncode == 1 and len(json.loads(missing.stdout)["failed"]) == 3
    (tmp_path / "agentsession.toml").write_text(f'store = "{store}"\n')
    assert run("rekey", cwd=tmp_path).returncode == 2  # usage: no encryption configured
