"""Configuration files: one set of keys in three forms.

``agentsession.toml``, ``agentsession.yaml`` (needs the ``yaml`` extra) and
``[tool.agentsession]`` in ``pyproject.toml``; found by :func:`find_config`,
read by :func:`load_config`, used by ``SessionManager.from_config`` and the
``agentsession`` command. Unknown keys and bad values raise
:class:`~agentsession.ConfigError` naming the key and the file. The keys and
examples are in ``docs/cli.md``; the why in
``docs/design.md``, "Command line and configuration".
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from ._async.protocol import AsyncStore
    from ._sync.protocol import Store

from ._exceptions import ConfigError, InvalidInput
from .extras import missing_extra

__all__ = ["CONFIG_ENV", "SEARCH_ORDER", "Config", "find_config", "load_config", "parse_duration"]

#: The environment variable naming a configuration file.
CONFIG_ENV = "AGENTSESSION_CONFIG"
#: The files looked for in the working directory, in this order.
SEARCH_ORDER = ("agentsession.toml", "agentsession.yaml", "agentsession.yml", "pyproject.toml")

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_STORE_NAMES = {"sqlite": "sqlite:///{}/sessions.db", "file": "file://{}", "memory": "memory://"}
_KEYS = (
    "store",
    "base_dir",
    "enabled",
    "ttl",
    "idle_timeout",
    "max_messages",
    "checkpoint_every",
    "checkpoint",
    "compression",
    "encryption",
)


def parse_duration(text: str) -> timedelta:
    """``"90d"``, ``"12h"``, ``"30m"``, ``"45s"`` (or a bare number of seconds)."""
    value = str(text).strip().lower()
    unit = _UNITS.get(value[-1:])
    number = value[:-1] if unit is not None else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise InvalidInput(f"not a duration: {text!r} (say 90d, 12h, 30m or 45s)") from None
    if not 0 < seconds < float("inf"):
        raise InvalidInput(f"a duration must be positive: {text!r}")
    return timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class Config:
    """What a configuration file says (every field ``None`` when not set).

    Attributes:
        path: the file read, ``None`` when none was found.
        store: the store URL (``None``: the library's default).
        ttl / idle_timeout / max_messages / checkpoint_every: the managers'
            defaults of the same names.
        compression: ``algorithm`` (``zlib``, ``zstd`` or ``auto``) and
            ``min_bytes`` (records smaller are stored as they are).
        encryption: ``keys_env``, the environment variable that holds the key
            ring (``id:base64-key`` pairs, newest first: never keys in a
            file), and ``read_plaintext``. With either, managers made from
            the file use a sealed store (``agentsession.sealed``).
    """

    path: Path | None = None
    store: str | None = None
    ttl: timedelta | None = None
    idle_timeout: timedelta | None = None
    max_messages: int | None = None
    checkpoint_every: timedelta | None = None
    compression: Mapping[str, Any] | None = None
    encryption: Mapping[str, Any] | None = None

    def sealing(self) -> dict[str, Any] | None:
        """The sealed store's options this file asks for (its key ring read
        from the environment now), or ``None`` for a plain store."""
        if self.compression is None and self.encryption is None:
            return None
        from .sealed import KeyRing

        options: dict[str, Any] = {}
        if self.compression is not None:
            options["compression"] = self.compression.get("algorithm", "auto")
            if "min_bytes" in self.compression:
                options["threshold"] = self.compression["min_bytes"]
        if self.encryption is not None:
            options["keys"] = KeyRing.from_env(self.encryption.get("keys_env", "AGENTSESSION_KEYS"))
            if "read_plaintext" in self.encryption:
                options["read_plaintext"] = self.encryption["read_plaintext"]
        return options

    def sync_store(self, url: str | None = None) -> Store | str | None:
        """The store this file asks for: its URL (``None``: the default), or
        with compression or encryption that store opened and sealed.
        ``url``: that store instead of the file's."""
        url = self.store if url is None else url
        sealing = self.sealing()
        if sealing is None:
            return url
        from ._registry import open_store
        from ._sync.sealed import SealedStore

        return SealedStore(open_store(url), **sealing)

    def async_store(self, url: str | None = None) -> AsyncStore | str | None:
        """:meth:`sync_store`, for an async manager."""
        url = self.store if url is None else url
        sealing = self.sealing()
        if sealing is None:
            return url
        from ._async.sealed import AsyncSealedStore
        from ._registry import open_async_store

        return AsyncSealedStore(open_async_store(url), **sealing)

    def manager_options(self) -> dict[str, Any]:
        """The options a manager takes from this file."""
        return {
            "ttl": self.ttl,
            "idle_timeout": self.idle_timeout,
            "max_messages": self.max_messages,
            "checkpoint_every": self.checkpoint_every,
        }


def find_config(
    path: str | os.PathLike[str] | None = None, *, cwd: Path | None = None
) -> Path | None:
    """The configuration file to read: ``path``, else ``$AGENTSESSION_CONFIG``,
    else the first of :data:`SEARCH_ORDER` in ``cwd`` (a ``pyproject.toml``
    only if it has a ``[tool.agentsession]`` table); ``None`` if there is none.
    A file named explicitly (or by the variable) must exist."""
    named = path if path is not None else os.environ.get(CONFIG_ENV) or None
    if named is not None:
        found = Path(named).expanduser()
        if not found.is_file():
            raise ConfigError(f"{found}: no such configuration file", path=str(found))
        return found
    here = cwd or Path.cwd()
    for name in SEARCH_ORDER:
        candidate = here / name
        if candidate.is_file() and (name != "pyproject.toml" or _pyproject(candidate) is not None):
            return candidate
    return None


def load_config(path: str | os.PathLike[str] | None = None, *, cwd: Path | None = None) -> Config:
    """Find (:func:`find_config`) and read the configuration; an empty
    :class:`Config` when there is no file."""
    found = find_config(path, cwd=cwd)
    if found is None:
        return Config()
    return _Reader(found).config(_read(found))


def _read(path: Path) -> Any:
    where = str(path)
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise missing_extra("reading a YAML configuration file", "yaml") from None
        try:
            return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: not valid YAML ({exc})", path=where) from None
    if path.suffix != ".toml":
        raise ConfigError(f"{where}: say .toml, .yaml or .yml", path=where)
    if path.name == "pyproject.toml":
        table = _pyproject(path)
        if table is None:
            raise ConfigError(f"{where}: no [tool.agentsession] table", path=where)
        return table
    return _toml(path)


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})", path=str(path)) from None


def _pyproject(path: Path) -> Any:
    tool = _toml(path).get("tool")
    return tool.get("agentsession") if isinstance(tool, dict) else None


class _Reader:
    """Checks one file's mapping; every error names the key and the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str | None, problem: str) -> ConfigError:
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        return ConfigError(where + problem, key=key, path=str(self.path))

    def table(self, value: Any, key: str | None, known: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table (a mapping of keys to values)")
        prefix = f"{key}." if key else ""
        for name in value:
            if name not in known:
                hint = " (keys never go in a file: name a variable with key_env)" * (
                    key == "encryption"
                )
                raise self.fail(f"{prefix}{name}", f"unknown key; known: {', '.join(known)}{hint}")
        return value

    def config(self, root: Any) -> Config:
        prefix = ""
        # The seed form: everything under one ``session:`` table.
        if isinstance(root, dict) and list(root) == ["session"]:
            root, prefix = root["session"], "session."
        values = self.table(root, prefix.rstrip(".") or None, _KEYS)
        every = self.duration(values, prefix, "checkpoint_every")
        if "checkpoint" in values:
            if every is not None:
                raise self.fail(
                    f"{prefix}checkpoint", "give checkpoint or checkpoint_every, not both"
                )
            every = self.checkpoint(values["checkpoint"], f"{prefix}checkpoint")
        return Config(
            path=self.path,
            store=self.store(values, prefix),
            ttl=self.duration(values, prefix, "ttl"),
            idle_timeout=self.duration(values, prefix, "idle_timeout"),
            max_messages=self.count(values, prefix, "max_messages"),
            checkpoint_every=every,
            compression=self.compression(values.get("compression"), f"{prefix}compression"),
            encryption=self.encryption(values.get("encryption"), f"{prefix}encryption"),
        )

    def store(self, values: dict[str, Any], prefix: str) -> str | None:
        store, base_dir = values.get("store"), values.get("base_dir")
        if values.get("enabled", True) is False:
            return "memory://"  # nothing persisted: sessions last as long as the process
        if "enabled" in values and not isinstance(values["enabled"], bool):
            raise self.fail(f"{prefix}enabled", "must be true or false")
        if store is not None and not (isinstance(store, str) and store):
            raise self.fail(f"{prefix}store", "must be a store URL or sqlite, file or memory")
        if isinstance(store, str) and "://" in store:
            if base_dir is not None:
                raise self.fail(f"{prefix}base_dir", "goes with a store name, not a URL")
            return store
        if base_dir is None:
            if store is None:
                return None
            # The library's own default directory, as for the default store.
            directory = Path(os.environ.get("AGENTSESSION_DIR") or Path.home() / ".agentsession")
        elif not isinstance(base_dir, str) or not base_dir:
            raise self.fail(f"{prefix}base_dir", "must be a directory path")
        else:
            directory = Path(base_dir).expanduser()
            if not directory.is_absolute():  # relative to the file, not to the working directory
                directory = self.path.parent / directory
        template = _STORE_NAMES.get(store or "sqlite") or self.named(str(store), prefix)
        return template.format(quote(str(directory.absolute())))

    def named(self, store: str, prefix: str) -> str:
        raise self.fail(f"{prefix}store", f"{store!r}: give a URL, or sqlite, file or memory")

    def duration(self, values: dict[str, Any], prefix: str, key: str) -> timedelta | None:
        return self.as_duration(values.get(key), prefix + key)

    def as_duration(self, value: Any, key: str) -> timedelta | None:
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise self.fail(key, "must be a duration: seconds, or 90d, 12h, 30m, 45s")
        try:
            return parse_duration(value)
        except InvalidInput as exc:
            raise self.fail(key, str(exc)) from None

    def count(self, values: dict[str, Any], prefix: str, key: str, minimum: int = 1) -> int | None:
        value = values.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < minimum
        ):
            raise self.fail(prefix + key, f"must be an integer of at least {minimum}")
        return value

    def checkpoint(self, value: Any, key: str) -> timedelta | None:
        table = self.table(value, key, ("auto_save", "interval"))
        auto = table.get("auto_save", True)
        if not isinstance(auto, bool):
            raise self.fail(f"{key}.auto_save", "must be true or false")
        interval = self.as_duration(table.get("interval"), f"{key}.interval")
        if auto and interval is None:
            raise self.fail(f"{key}.interval", "auto_save needs an interval (say 10m)")
        return interval if auto else None

    def compression(self, value: Any, key: str) -> Mapping[str, Any] | None:
        if value is None:
            return None
        table = self.table(value, key, ("algorithm", "min_bytes"))
        algorithm = table.get("algorithm")
        if algorithm is not None and algorithm not in ("zlib", "zstd", "auto"):
            raise self.fail(f"{key}.algorithm", "must be zlib, zstd or auto")
        self.count(table, f"{key}.", "min_bytes", minimum=0)
        return dict(table)

    def encryption(self, value: Any, key: str) -> Mapping[str, Any] | None:
        if value is None:
            return None
        table = self.table(value, key, ("keys_env", "read_plaintext"))
        name = table.get("keys_env")
        if name is not None and not (isinstance(name, str) and _ENV_NAME.fullmatch(name)):
            raise self.fail(
                f"{key}.keys_env",
                "must name an environment variable (A-Z, 0-9, _); a key never goes in a file",
            )
        if not isinstance(table.get("read_plaintext", True), bool):
            raise self.fail(f"{key}.read_plaintext", "must be true or false")
        return dict(table)
