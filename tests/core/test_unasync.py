"""scripts/unasync.py: the generator of the sync twins, and its CI check."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync", ROOT / "scripts" / "unasync.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


unasync = _load()

SOURCE = "async def fetch() -> None:\n    await go()\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A repository with one async source and its freshly generated twin."""
    (tmp_path / "core" / "_async").mkdir(parents=True)
    (tmp_path / "core" / "_async" / "thing.py").write_text(SOURCE)
    assert unasync.main([], root=tmp_path) == 0
    return tmp_path


def test_generates_and_then_checks_clean(tree: Path) -> None:
    twin = tree / "core" / "_sync" / "thing.py"
    assert twin.read_text() == unasync.HEADER + "def fetch() -> None:\n    go()\n"
    assert unasync.main(["--check"], root=tree) == 0


def test_check_fails_on_an_edited_twin(tree: Path) -> None:
    (tree / "core" / "_sync" / "thing.py").write_text("edited by hand\n")
    assert unasync.main(["--check"], root=tree) == 1


def test_check_fails_when_the_source_was_removed(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tree / "core" / "_async" / "thing.py").unlink()
    assert unasync.main(["--check"], root=tree) == 1
    assert "core/_sync/thing.py" in capsys.readouterr().out
    assert unasync.main([], root=tree) == 0  # regenerating deletes the orphan
    assert not (tree / "core" / "_sync" / "thing.py").exists()
    assert unasync.main(["--check"], root=tree) == 0


def test_a_file_nobody_generates_fails_and_is_kept(tree: Path) -> None:
    stray = tree / "core" / "_sync" / "notes.py"
    stray.write_text("x = 1\n")
    assert unasync.main(["--check"], root=tree) == 1
    assert unasync.main([], root=tree) == 1
    assert stray.read_text() == "x = 1\n"
    stray.rename(stray.with_name("_workers.py"))  # listed in HANDWRITTEN
    assert unasync.main(["--check"], root=tree) == 0


def test_remove_blocks() -> None:
    text = "a = 1\n# unasync: remove-begin\nimport asyncio\n    # unasync: remove-end\nb = 2\n"
    assert unasync.convert(text) == unasync.HEADER + "a = 1\nb = 2\n"
    for broken in ("# unasync: remove-begin\n", "# unasync: remove-end\n"):
        with pytest.raises(ValueError, match="unasync"):
            unasync.convert(broken)


def test_every_async_folder_is_covered(tree: Path) -> None:
    """A store folder's ``_async/`` is found without being listed anywhere."""
    room = tree / "core" / "stores" / "newstore" / "_async"
    room.mkdir(parents=True)
    (room / "store.py").write_text(SOURCE)
    assert unasync.main(["--check"], root=tree) == 1  # its twin is missing
    assert unasync.main([], root=tree) == 0
    assert (room.parent / "_sync" / "store.py").exists()
    (room / "store.py").write_text(SOURCE + "# changed\n")
    assert unasync.main(["--check"], root=tree) == 1  # stale
    (room / "store.py").unlink()
    assert unasync.main(["--check"], root=tree) == 1  # orphaned twin


def test_the_repository_twins_are_current() -> None:
    folders = {src.relative_to(ROOT).as_posix() for src, _ in unasync.folders(ROOT)}
    assert {"core/_async", "core/stores/redis/_async", "core/stores/postgres/_async"} <= folders
    assert unasync.main(["--check"], root=ROOT) == 0
