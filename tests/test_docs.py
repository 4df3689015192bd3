"""The design lives in the repository: every citation of ``docs/design.md``
names one of its headings, nothing cites a document or a tracker that is not
here, and every store has its page."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "docs" / "design.md"
#: Where code, config and tests live (prose under docs/ is checked separately).
SOURCES = ["core", "integrations", "tests", "scripts", "benchmarks", "example_projects"]
CONFIG = ["tox.ini", "pyproject.toml", ".ci/run", "README.md", "CONTRIBUTING.md"]

CITATION = re.compile(r'docs/design\.md`*,\s*"?([A-Z][A-Za-z/ -]*[a-z])')
WEB_CITATION = re.compile(r'docs/web/(\w+)\.md`*,\s*"([A-Z][A-Za-z/ -]*[a-z])"')
ISSUE_NUMBER = re.compile(r"\b[Ii]ssues? #?\d|\bDESIGN §|DESIGN\.md")


def _files() -> list[Path]:
    found = [p for folder in SOURCES for p in (ROOT / folder).rglob("*") if p.is_file()]
    found += [ROOT / name for name in CONFIG if (ROOT / name).exists()]
    return [
        p
        for p in found
        if p.suffix in {".py", ".md", ".ini", ".toml", ".html", ".js", ".txt", ""}
        and "__pycache__" not in p.parts
        and p != Path(__file__)
    ]


def _headings() -> set[str]:
    return {
        line.lstrip("#").strip() for line in DESIGN.read_text().splitlines() if line.startswith("#")
    }


def test_every_citation_names_a_heading() -> None:
    headings = _headings()
    cited = {
        f"{path.relative_to(ROOT)}: {match}"
        for path in _files()
        for match in CITATION.findall(path.read_text(errors="replace"))
        if match not in headings
    }
    assert cited == set(), sorted(headings)


def test_every_web_guide_citation_names_a_heading() -> None:
    def headings(page: str) -> set[str]:
        path = ROOT / "docs" / "web" / f"{page}.md"
        lines = path.read_text().splitlines() if path.exists() else []
        return {line.lstrip("#").strip() for line in lines if line.startswith("#")}

    cited = {
        (f"{path.relative_to(ROOT)}", page, heading)
        for path in _files()
        for page, heading in WEB_CITATION.findall(path.read_text(errors="replace"))
    }
    assert cited
    assert [c for c in cited if c[2] not in headings(c[1])] == []


def test_the_web_pages_show_the_designs_http_table() -> None:
    table = (ROOT / "docs" / "web" / "_http.md").read_text()
    assert table.startswith("| the request carries") and table in DESIGN.read_text()
    for page in ("index", "asgi", "django", "flask"):
        assert '--8<-- "docs/web/_http.md"' in (ROOT / "docs" / "web" / f"{page}.md").read_text()


def test_the_design_is_cited() -> None:
    # A guard for the test above: it must find citations to check.
    assert sum(len(CITATION.findall(p.read_text(errors="replace"))) for p in _files()) >= 10


def test_nothing_cites_an_outside_document_or_a_tracker() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if ISSUE_NUMBER.search(line)
    ]
    assert found == []


def test_every_store_has_its_page() -> None:
    stores = sorted(
        p.name for p in (ROOT / "core" / "stores").iterdir() if (p / "__init__.py").exists()
    )
    assert stores == ["file", "memory", "postgres", "redis", "sqlite"]
    assert [s for s in stores if not (ROOT / "docs" / "stores" / f"{s}.md").is_file()] == []


def test_module_docstrings_are_short() -> None:
    # What the module is and where the long story lives (docs/), not the story.
    long = []
    for path in sorted([*(ROOT / "core").rglob("*.py"), *(ROOT / "integrations").rglob("*.py")]):
        doc = ast.get_docstring(ast.parse(path.read_text()), clean=False)
        if doc is not None and doc.count("\n") + 1 > 25:
            long.append(f"{path.relative_to(ROOT)}: {doc.count(chr(10)) + 1} lines")
    assert long == []
