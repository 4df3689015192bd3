"""Configuration files: the three forms, the search order, every refusal."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from agentsession import AsyncSessionManager, ConfigError, InvalidInput, SessionManager
from agentsession.config import CONFIG_ENV, Config, find_config, load_config

FULL_TOML = """
store = "sqlite:///{db}"
ttl = "30d"
idle_timeout = 7200
max_messages = 500
checkpoint_every = "10m"

[compression]
algorithm = "zlib"
min_bytes = 1024

[encryption]
keys_env = "AGENTSESSION_TEST_KEYS"
read_plaintext = false
"""


@pytest.fixture(autouse=True)
def _no_outside_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv("AGENTSESSION_STORE_URL", raising=False)
    monkeypatch.chdir(tmp_path)


def _full(config: Config, db: Path) -> None:
    assert config.store == f"sqlite:///{db}"
    assert config.ttl == timedelta(days=30)
    assert config.idle_timeout == timedelta(hours=2)
    assert config.max_messages == 500
    assert config.checkpoint_every == timedelta(minutes=10)
    assert config.compression == {"algorithm": "zlib", "min_bytes": 1024}
    assert config.encryption == {"keys_env": "AGENTSESSION_TEST_KEYS", "read_plaintext": False}


def test_agentsession_toml_gives_every_key(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    (tmp_path / "agentsession.toml").write_text(FULL_TOML.format(db=db))
    config = load_config()
    assert config.path == tmp_path / "agentsession.toml"
    _full(config, db)


def test_pyproject_tool_table_gives_the_same(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    body = FULL_TOML.format(db=db).replace("[compression]", "[tool.agentsession.compression]")
    body = body.replace("[encryption]", "[tool.agentsession.encryption]")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\n\n[tool.agentsession]\n' + body
    )
    config = load_config()
    assert config.path == tmp_path / "pyproject.toml"
    _full(config, db)


def test_yaml_flat_form_gives_the_same(tmp_path: Path) -> None:
    pytest.importorskip("yaml", reason="the yaml (or cli) extra is not installed")
    db = tmp_path / "s.db"
    (tmp_path / "agentsession.yaml").write_text(
        f"store: sqlite:///{db}\nttl: 30d\nidle_timeout: 7200\nmax_messages: 500\n"
        "checkpoint_every: 10m\n"
        "compression: {algorithm: zlib, min_bytes: 1024}\n"
        "encryption:\n  keys_env: AGENTSESSION_TEST_KEYS\n  read_plaintext: false\n"
    )
    _full(load_config(), db)


def test_yaml_seed_form_maps_onto_the_keys(tmp_path: Path) -> None:
    pytest.importorskip("yaml", reason="the yaml (or cli) extra is not installed")
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "agentsession.yaml"
    path.write_text(
        "session:\n  enabled: true\n  store: sqlite\n  base_dir: data\n"
        "  checkpoint:\n    auto_save: true\n    interval: 300\n"
    )
    config = load_config(path)
    # base_dir is relative to the file, not to the working directory.
    assert config.store == f"sqlite:///{tmp_path / 'conf' / 'data' / 'sessions.db'}"
    assert config.checkpoint_every == timedelta(minutes=5)
    path.write_text(
        "session:\n  store: file\n  base_dir: /srv/s\n  checkpoint: {auto_save: false}\n"
    )
    assert load_config(path).store == "file:///srv/s"
    assert load_config(path).checkpoint_every is None
    path.write_text("session:\n  enabled: false\n")
    assert load_config(path).store == "memory://"


def test_a_store_name_without_base_dir_uses_the_default_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTSESSION_DIR", str(tmp_path / "home"))
    path = tmp_path / "agentsession.toml"
    path.write_text('store = "sqlite"\n')
    assert load_config().store == f"sqlite:///{tmp_path / 'home' / 'sessions.db'}"
    path.write_text('store = "file"\n')
    assert load_config().store == f"file://{tmp_path / 'home'}"
    path.write_text('store = "memory"\n')
    assert load_config().store == "memory://"


def test_from_config_builds_both_managers(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    (tmp_path / "agentsession.toml").write_text(f'store = "sqlite:///{db}"\nttl = "1h"\n')
    with SessionManager.from_config() as manager:
        assert manager.ttl == timedelta(hours=1)
        manager.create("assistant").append({"role": "user", "content": "hi"})
    assert db.is_file()

    async def run() -> int:
        async with AsyncSessionManager.from_config(tmp_path / "agentsession.toml") as manager:
            assert manager.ttl == timedelta(hours=1)
            return len(await manager.list())

    import asyncio

    assert asyncio.run(run()) == 1


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_config() is None
    assert load_config() == Config()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n')
    assert find_config() is None  # no [tool.agentsession]: not a config file
    (tmp_path / "pyproject.toml").write_text('[tool.agentsession]\nttl = "1h"\n')
    assert find_config() == tmp_path / "pyproject.toml"
    (tmp_path / "agentsession.yaml").write_text("ttl: 2h\n")
    assert find_config() == tmp_path / "agentsession.yaml"
    (tmp_path / "agentsession.toml").write_text('ttl = "3h"\n')
    assert find_config() == tmp_path / "agentsession.toml"
    elsewhere = tmp_path / "other.toml"
    elsewhere.write_text('ttl = "4h"\n')
    monkeypatch.setenv(CONFIG_ENV, str(elsewhere))
    assert load_config().ttl == timedelta(hours=4)
    assert find_config(tmp_path / "agentsession.toml") == tmp_path / "agentsession.toml"


BAD = [
    ('colour = "blue"\n', "colour"),
    ('ttl = "soon"\n', "ttl"),
    ("ttl = -5\n", "ttl"),
    ("ttl = true\n", "ttl"),
    ("max_messages = 0\n", "max_messages"),
    ("max_messages = true\n", "max_messages"),
    ('max_messages = "10"\n', "max_messages"),
    ("store = 42\n", "store"),
    ('store = "redis"\n', "store"),
    ('store = "sqlite:///x.db"\nbase_dir = "data"\n', "base_dir"),
    ("base_dir = 3\n", "base_dir"),
    ('enabled = "yes"\n', "enabled"),
    ('checkpoint_every = "1h"\n[checkpoint]\ninterval = "1h"\n', "checkpoint"),
    ("[checkpoint]\nauto_save = true\n", "checkpoint.interval"),
    ('[checkpoint]\nauto_save = "yes"\ninterval = 60\n', "checkpoint.auto_save"),
    ("[checkpoint]\nevery = 60\n", "checkpoint.every"),
    ('compression = "zlib"\n', "compression"),
    ("[compression]\nmin_bytes = -1\n", "compression.min_bytes"),
    ("[compression]\nalgorithm = 1\n", "compression.algorithm"),
    ('[compression]\nalgorithm = "lz4"\n', "compression.algorithm"),
    ("[compression]\nratio = 2\n", "compression.ratio"),
    ('[encryption]\nkey = "c2VjcmV0LWtleS1ieXRlcw=="\n', "encryption.key"),
    ('[encryption]\nkeys_env = "c2VjcmV0LWtleS1ieXRlcw=="\n', "encryption.keys_env"),
    ('[encryption]\nkeys_env = "OK"\nread_plaintext = "no"\n', "encryption.read_plaintext"),
    ('[encryption]\nkey_env = "OK"\n', "encryption.key_env"),
]


@pytest.mark.parametrize(("body", "key"), BAD)
def test_a_bad_key_or_value_names_the_key_and_the_file(tmp_path: Path, body: str, key: str) -> None:
    path = tmp_path / "agentsession.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.key == key
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value) and key in str(caught.value)
    with pytest.raises(ConfigError):
        SessionManager.from_config(path)


def test_a_key_is_never_echoed(tmp_path: Path) -> None:
    path = tmp_path / "agentsession.toml"
    path.write_text('[encryption]\nkeys_env = "sk-live-0123456789"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "sk-live-0123456789" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "body", "problem"),
    [
        ("agentsession.toml", "ttl = = 1\n", "not valid TOML"),
        ("agentsession.yaml", "ttl: [1\n", "not valid YAML"),
        ("agentsession.yaml", "- 1\n- 2\n", "must be a table"),
        ("pyproject.toml", '[project]\nname = "x"\n', "no [tool.agentsession] table"),
        ("agentsession.ini", "ttl = 1\n", "say .toml, .yaml or .yml"),
    ],
)
def test_a_bad_file_is_named(tmp_path: Path, name: str, body: str, problem: str) -> None:
    if name.endswith(".yaml"):
        pytest.importorskip("yaml", reason="the yaml (or cli) extra is not installed")
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        load_config(path)
    assert caught.value.path == str(path)


def test_a_named_file_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.toml")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match=r"gone\.toml"):
        load_config()


def test_yaml_without_pyyaml_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "agentsession.yaml").write_text("ttl: 1h\n")
    # PyYAML absent (the core env) or hidden: importing it fails either way.
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ImportError, match=r"pip install 'agentsession\[yaml\]'"):
        load_config()


def test_compression_and_encryption_make_a_sealed_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("cryptography", reason="the crypto extra is not installed")
    from agentsession.sealed import KeyRing, SealedStore

    db = tmp_path / "s.db"
    (tmp_path / "agentsession.toml").write_text(FULL_TOML.format(db=db))
    monkeypatch.setenv("AGENTSESSION_TEST_KEYS", f"k1:{KeyRing.generate()}")
    with SessionManager.from_config() as manager:
        assert isinstance(manager.store, SealedStore)
        assert manager.store.keys is not None and manager.store.keys.ids == ("k1",)
        s = manager.create("bot")
        s.append({"role": "user", "content": "kept sealed " * 200})
    assert b"kept sealed" not in db.read_bytes()
    monkeypatch.delenv("AGENTSESSION_TEST_KEYS")
    with pytest.raises(InvalidInput):  # the ring's variable is empty: said, not guessed
        SessionManager.from_config()
