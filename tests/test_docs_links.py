"""The operator's documents link only to files of the repository, and every link resolves
(also its #anchor, to a heading of the target)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "examples" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of the headings of ``path``."""
    found = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_point_into_the_repository_and_resolve(document):
    for target in LINK.findall(document.read_text()):
        assert not re.match(r"^[a-z]+:", target), f"{document.name} links outside: {target}"
        file, _, anchor = target.partition("#")
        resolved = (document.parent / file).resolve() if file else document
        assert resolved.exists(), f"{document.name}: {target} does not exist"
        assert ROOT in resolved.parents or resolved == ROOT
        if anchor:
            assert anchor in anchors(resolved), f"{document.name}: no heading for #{anchor}"


def test_the_deploy_files_the_docs_name_exist():
    text = (ROOT / "docs" / "deploy.md").read_text()
    for name in (
        "leadhook.service",
        "leadhook-backup.service",
        "leadhook-backup.timer",
        "Caddyfile",
        "nginx.conf",
    ):
        assert f"deploy/{name}" in text
        assert (ROOT / "deploy" / name).exists()
