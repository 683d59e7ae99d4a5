"""The code packages the jobs run: deterministic bytes, the ml_code package at the root, nothing else."""

from __future__ import annotations

import tarfile
import zipfile

from blueprint.packages import ml_code_sourcedir, ml_code_zip


def test_the_glue_library_is_deterministic_and_holds_the_package():
    first = ml_code_zip().read_bytes()
    assert ml_code_zip().read_bytes() == first
    names = zipfile.ZipFile(ml_code_zip()).namelist()
    assert "ml_code/etl/transforms.py" in names and "ml_code/contracts/customer-churn.json" in names
    assert all(name.startswith("ml_code/") and "__pycache__" not in name for name in names)
    assert not [name for name in names if name.endswith((".toml", ".txt", ".pyc"))]


def test_the_sourcedir_is_deterministic_and_holds_the_package():
    first = ml_code_sourcedir().read_bytes()
    assert ml_code_sourcedir().read_bytes() == first
    with tarfile.open(ml_code_sourcedir()) as archive:
        members = archive.getmembers()
    assert {"ml_code/training/train.py", "ml_code/inference/inference.py"} <= {m.name for m in members}
    assert all(m.mtime == 0 and m.uid == 0 and m.isfile() for m in members)
