"""One local SparkSession for the ETL tests (real Spark, as on Glue); Java 17 is required."""

from __future__ import annotations

import shutil
import warnings

import pytest


@pytest.fixture(scope="session")
def spark():
    if shutil.which("java") is None:
        message = "JAVA IS NOT INSTALLED: the Spark tests of the Glue ETL cannot run on this machine"
        warnings.warn(message, stacklevel=1)
        pytest.skip(message)
    from local_mode.etl import local_spark

    session = local_spark("mlops-etl-tests", driver_memory="1g")
    yield session
    session.stop()
