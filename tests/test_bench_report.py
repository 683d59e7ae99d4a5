"""Benchmark pages: a bench script's run writes its page (what it printed, the command, the commit and the
machine), one over its budget says so, one that raises writes nothing; every bench script has its page, in the
site's navigation."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from bench import report

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(path for path in (ROOT / "bench").glob("*.py") if "record(__file__, main)" in path.read_text())


@pytest.fixture()
def script(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(report, "PAGES", tmp_path / "pages")
    path = tmp_path / "toy_bench.py"
    path.write_text('"""A toy measure, beside its floor.\n\nRounds alternate the two."""\n')
    return path


def test_a_successful_run_writes_what_it_printed(script, capsys):
    def main() -> int:
        sys.stdout.write("ratio 1.25\n")
        return 0

    assert report.record(str(script), main, argv=["--rounds", "3"]) == 0
    assert capsys.readouterr().out == "ratio 1.25\n"  # still printed
    page = (report.PAGES / "toy_bench.md").read_text()
    assert page.startswith("# toy_bench\n\n<!-- Written by bench/toy_bench.py")
    assert "A toy measure, beside its floor.\n\nRounds alternate the two." in page
    assert re.search(r"- command: `\S*python\S* bench/toy_bench.py --rounds 3`", page)
    assert re.search(r"- commit: `[0-9a-f]{7,}\+?`", page)
    assert "```text\nratio 1.25\n```" in page


def test_a_run_over_its_budget_says_so_and_one_that_raises_writes_nothing(script):
    assert report.record(str(script), lambda: 1, argv=[]) == 1
    assert "- exit status: 1 (the script's budget or target was missed)" in (report.PAGES / "toy_bench.md").read_text()
    (report.PAGES / "toy_bench.md").unlink()
    with pytest.raises(ZeroDivisionError):
        report.record(str(script), lambda: 1 / 0, argv=[])
    assert not (report.PAGES / "toy_bench.md").exists()


def test_every_bench_script_has_its_page_in_the_navigation():
    assert len(SCRIPTS) >= 9
    navigation = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python/name:", ""))["nav"]
    listed = re.findall(r"benchmarks/([\w-]+)\.md", str(navigation))
    assert sorted(listed) == sorted(["index", *(path.stem for path in SCRIPTS)])
    for path in SCRIPTS:
        page = (report.PAGES / f"{path.stem}.md").read_text()
        assert report.MARKER.format(script=path.name) in page, path.name
