"""Code outside the package uses public names only; tests reach a private
module only from the test folder that mirrors that module's package.

A module whose dotted path has a component starting with ``_`` is private
and may change in any release: the integrations, the example projects and
the benchmarks must not depend on one, and a test that does sits beside
the tests of that module's own package (``tests/core/test_canonical.py``
for ``agentsession._canonical``, ``tests/core/stores/sqlite/`` for
``agentsession.stores.sqlite._ops``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def _private_package(module: str) -> str | None:
    """The package holding the first private part of ``module``, if any."""
    parts = module.split(".")
    if parts[0] != "agentsession":
        return None
    for index, part in enumerate(parts[1:], start=1):
        if part.startswith("_"):
            return ".".join(parts[:index])
    return None


def _mirror(package: str) -> Path:
    """The test folder of a package: agentsession -> tests/core,
    agentsession.stores.sqlite -> tests/core/stores/sqlite,
    agentsession.integrations -> tests/integrations."""
    parts = package.split(".")[1:]
    if parts[:1] == ["integrations"]:
        return ROOT / "tests" / Path(*parts)
    return ROOT / "tests" / "core" / Path(*parts)


@pytest.mark.parametrize("folder", ["integrations", "example_projects", "benchmarks"])
def test_code_outside_the_package_uses_public_names(folder: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, module in _imports(path)
        if _private_package(module) is not None
    ]
    assert found == []


def test_tests_reach_private_modules_only_beside_their_package() -> None:
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for line, module in _imports(path):
            package = _private_package(module)
            if package is not None and path.parent != _mirror(package):
                found.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert found == []


def test_the_rule_sees_private_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from agentsession.stores.sqlite._ops import append\n"
        "import agentsession._canonical\n"
        "from agentsession import SessionManager\n"
    )
    modules = [m for _, m in _imports(sample) if _private_package(m)]
    assert modules == [
        "agentsession.stores.sqlite._ops",
        "agentsession.stores.sqlite._ops.append",
        "agentsession._canonical",
    ]
    assert _mirror("agentsession.stores.sqlite") == ROOT / "tests/core/stores/sqlite"
