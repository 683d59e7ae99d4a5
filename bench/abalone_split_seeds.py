"""How much the abalone test RMSE depends on the split: local mode's full run for several split seeds.

The test split holds 418 rows, so which rows land in it moves the RMSE far more than any hyperparameter.
Usage: .venv-ml/bin/python bench/abalone_split_seeds.py [--seeds 10] [--data ../shared/data/abalone/abalone.data]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local_mode.runner import run_pipeline  # noqa: E402
from ml_code.contracts.contract import load_contract  # noqa: E402

COLUMNS = "sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight,rings".split(",")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/abalone/abalone.data")
    args = parser.parse_args()
    contract_path = ROOT / "ml_code/contracts/abalone.json"
    contract = load_contract(contract_path)
    rmses = []
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as workdir:
            started = time.monotonic()
            result = run_pipeline(contract_path, contract, args.data, Path(workdir), seed=seed, columns=COLUMNS)
            rmses.append(result.metric_value)
            print(f"seed {seed:2d}: test rmse {result.metric_value:.3f}  ({time.monotonic() - started:.1f} s)")
    print(
        f"rmse over {len(rmses)} split seeds: mean {statistics.mean(rmses):.3f}, "
        f"stdev {statistics.stdev(rmses):.3f}, min {min(rmses):.3f}, max {max(rmses):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
