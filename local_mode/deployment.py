"""What the stack does at deploy time, done on this machine: the values of the definition's `${...}`
placeholders, the code objects in the code bucket, and the model package group.

The code package is built as the stack builds its asset (blueprint/packages.py). A contract given as a file is
packaged as `ml_code/contracts/<name>.json`, as if it had been committed: the pipeline's steps load the
contract by name from the code package, locally as on AWS.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from blueprint.packages import ROOT, ml_code_sources
from local_mode.local_s3 import LocalS3
from ml_code.archives import tar_gz

LOCAL_REGION = "local"
XGBOOST_IMAGE = "local/sagemaker-xgboost:3.0-5"  # the step scripts, run by the ML environment's Python
CODE_BUCKET = "local-code"
MONITORING_BUCKET = "local-monitoring"  # captured traffic, ground truth, monitoring reports (as on AWS)
BUCKETS = {
    "ArtifactsBucket": "local-artifacts",
    "CuratedBucket": "local-curated",
    "MonitoringBucket": MONITORING_BUCKET,
    "CodeBucket": CODE_BUCKET,
}
_PLACEHOLDER = re.compile(r"\$\{(!?)([A-Za-z0-9:]+)\}")


def code_objects(contract_file: Path | None = None, contract_name: str | None = None) -> dict[str, bytes]:
    """The code bucket's objects by key: the code package and the processing bootstrap, named by hash."""
    files = ml_code_sources()
    if contract_file is not None:  # the contract's name is validated to be a plain file name (contract.py)
        files[f"ml_code/contracts/{contract_name}.json"] = Path(contract_file).read_bytes()
    package = tar_gz(files)
    bootstrap = (ROOT / "ml_code" / "bootstrap.py").read_bytes()
    return {
        f"sourcedir-{hashlib.sha256(package).hexdigest()[:16]}.tar.gz": package,
        f"bootstrap-{hashlib.sha256(bootstrap).hexdigest()[:16]}.py": bootstrap,
    }


def deploy(home: Path, objects: dict[str, bytes]) -> dict[str, str]:
    """Upload the code objects to the local code bucket; the placeholder values that point at them."""
    s3 = LocalS3(home)
    for key, content in objects.items():
        path = s3.path(f"s3://{CODE_BUCKET}/{key}")
        if not path.is_file() or path.read_bytes() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    source_dir, bootstrap = (
        next(key for key in objects if key.startswith(prefix)) for prefix in ("sourcedir-", "bootstrap-")
    )
    return {
        **BUCKETS,
        "SourceDirKey": source_dir,
        "BootstrapKey": bootstrap,
        "JobRoleArn": "arn:aws:iam::000000000000:role/local-job-role",
        "TrainingRoleArn": "arn:aws:iam::000000000000:role/local-training-role",
        "ChampionRoleArn": "arn:aws:iam::000000000000:role/local-champion-role",
        "FinderRoleArn": "arn:aws:iam::000000000000:role/local-finder-role",
        "KmsKeyArn": "arn:aws:kms:local:000000000000:key/local",  # local files are not encrypted
        "XgboostImageUri": XGBOOST_IMAGE,
        "AWS::Region": LOCAL_REGION,
    }


def substitute(value: Any, values: dict[str, str]) -> Any:
    """Fill `${Name}` placeholders as Fn::Sub would (`${!Literal}` stays `${Literal}`); unknown names fail."""
    if isinstance(value, list):
        return [substitute(item, values) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, values) for key, item in value.items()}
    if not isinstance(value, str):
        return value

    def fill(match: re.Match) -> str:
        literal, name = match.groups()
        if literal:
            return "${" + name + "}"
        if name not in values:
            raise ValueError(f"the definition has a placeholder ${{{name}}} that local mode does not know")
        return values[name]

    return _PLACEHOLDER.sub(fill, value)
