"""The documentation: the site builds offline with no warning (a broken link or anchor, a page outside the
navigation), the README stays a five-minute read, and every link the README makes lands on a page and heading. The
configuration reference is generated: tests/test_config_schema.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[1]
README_LINES = 200
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """The anchor mkdocs gives a heading: its toc extension's own slugify."""
    return slugify(heading.strip(), "-")


def anchors(page: Path) -> set[str]:
    text, fenced = [], False
    for line in page.read_text().splitlines():
        fenced ^= line.startswith("```")
        if not fenced and line.startswith("#"):
            text.append(slug(line.lstrip("#")))
    return set(text)


def broken_links(page: Path) -> list[str]:
    """The relative links of a Markdown page whose file or heading does not exist."""
    broken = []
    for target in _LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.is_file() or (anchor and anchor not in anchors(destination)):
            broken.append(target)
    return broken


def test_the_site_builds_offline_without_a_warning(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WARNING" not in result.stderr, result.stderr[-3000:]
    assert (tmp_path / "site" / "operations" / "index.html").is_file()


def test_the_readme_is_a_five_minute_read_whose_links_land():
    readme = ROOT / "README.md"
    assert len(readme.read_text().splitlines()) <= README_LINES
    assert _LINK.findall(readme.read_text()), "the README sends each reader to their pages"
    assert broken_links(readme) == []


@pytest.mark.parametrize(
    ("text", "broken"),
    [("[a](missing.md)", ["missing.md"]), ("[a](page.md#nowhere)", ["page.md#nowhere"]), ("[a](page.md#a-title)", [])],
)
def test_a_link_to_a_missing_page_or_heading_is_found(tmp_path, text, broken):
    (tmp_path / "page.md").write_text("# A title\n\n```\n# not a heading\n```\n")
    (tmp_path / "readme.md").write_text(text)
    assert broken_links(tmp_path / "readme.md") == broken
