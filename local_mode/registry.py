"""The local Model Registry: model package groups and versioned packages with SageMaker's approval states.

One SQLite file (standard library only, so the pipeline's steps can read it from the ML environment too).
Registration takes the database's write lock before it numbers a version, so concurrent registrations get
distinct versions. `local_clients()` answers the few calls champion.py makes (ListModelPackages,
DescribeModelPackage, S3 GetObject) in the shapes boto3 returns, so the champion decision runs the same code
locally as on AWS.
"""

from __future__ import annotations

import getpass
import io
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from local_mode.local_s3 import LocalS3
from ml_code import settings

PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"
STATUSES = (PENDING, APPROVED, REJECTED)
# Which status a package may move to from each status (a decision is never undone to "pending").
TRANSITIONS = {PENDING: (APPROVED, REJECTED), APPROVED: (REJECTED,), REJECTED: (APPROVED,)}
REGISTRY_FILE = "registry.db"
LOCK_TIMEOUT_SECONDS = 30
ARN_PREFIX = "arn:aws:sagemaker:local:000000000000:model-package/"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_package_groups (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS model_packages (
    group_name TEXT NOT NULL REFERENCES model_package_groups (name),
    version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('PendingManualApproval', 'Approved', 'Rejected')),
    description TEXT NOT NULL,
    inference_specification TEXT NOT NULL,
    model_metrics TEXT NOT NULL,
    drift_check_baselines TEXT NOT NULL,
    customer_metadata TEXT NOT NULL,
    pipeline_execution TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decided_at TEXT,
    decided_by TEXT,
    comment TEXT,
    sample_payload_url TEXT,
    PRIMARY KEY (group_name, version)
);
"""
# Columns added after the first release, for registries made before them: (name, SQL type).
_ADDED_COLUMNS = (("sample_payload_url", "TEXT"),)


class RegistryError(ValueError):
    """An unknown group or version, or a status change the registry does not allow."""


@dataclass(frozen=True)
class ModelPackage:
    group: str
    version: int
    status: str
    description: str
    inference_specification: dict
    model_metrics: dict
    drift_check_baselines: dict
    customer_metadata: dict
    pipeline_execution: str
    created_at: str
    decided_at: str | None
    decided_by: str | None
    comment: str | None
    sample_payload_url: str | None = None

    @property
    def arn(self) -> str:
        return package_arn(self.group, self.version)

    @property
    def model_data_url(self) -> str:
        return self.inference_specification["Containers"][0]["ModelDataUrl"]


def package_arn(group: str, version: int) -> str:
    return f"{ARN_PREFIX}{group}/{version}"


def parse_arn(arn: str) -> tuple[str, int]:
    """(group, version) of a local package ARN."""
    group, _, version = arn.removeprefix(ARN_PREFIX).rpartition("/")
    if not arn.startswith(ARN_PREFIX) or not group or not version.isdigit():
        raise RegistryError(f"{arn!r} is not a local model package ARN ({ARN_PREFIX}<group>/<version>)")
    return group, int(version)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


def printable(text: str) -> str:
    """`text` with its control characters escaped (`\\x1b`, `\\n`): what a user typed is shown, never obeyed by a
    terminal."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Registry:
    """The registry in `<home>/registry.db`; every method opens its own connection (safe across processes).

    Only a pipeline run creates the file (with its groups): reading or deciding in a folder without one is an
    error, so a mistyped `--workdir` never passes for an empty registry."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.path = self.home / REGISTRY_FILE

    @contextmanager
    def _transaction(self, *, write: bool, create: bool = False) -> Iterator[sqlite3.Connection]:
        if create:
            self._create()
        self._require_file()
        try:
            connection = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT_SECONDS, isolation_level=None)
            try:
                connection.execute("PRAGMA foreign_keys = ON")
                connection.executescript(_SCHEMA)
                _add_missing_columns(connection)
                connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield connection
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
            finally:
                connection.close()
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                raise
            raise RegistryError(
                f"{self.path} stayed locked for {LOCK_TIMEOUT_SECONDS} s by another process (a run registering a "
                "model, or another decision): retry when it has finished"
            ) from None
        except sqlite3.IntegrityError:  # what a statement broke, not the file
            raise
        except sqlite3.DatabaseError as error:
            raise RegistryError(
                f"{self.path} is damaged ({error}): restore it from a copy, or move it away and rerun the "
                "pipeline to start an empty registry"
            ) from None

    def _create(self) -> None:
        """Make the file whole, schema included, or not at all: a reader never meets a half-made registry."""
        if self.path.exists():
            return
        self._require_home()
        self.home.mkdir(parents=True, exist_ok=True)
        draft = self.home / f".{REGISTRY_FILE}.{os.getpid()}"
        connection = sqlite3.connect(draft)
        try:
            connection.executescript(_SCHEMA)
        finally:
            connection.close()
        try:
            os.link(draft, self.path)  # fails, leaving the other's, if another process made it first
        except FileExistsError:
            pass
        finally:
            draft.unlink()

    def _require_home(self) -> None:
        if self.home.exists() and not self.home.is_dir():
            raise RegistryError(f"{self.home} is a file, not a local mode home folder (--workdir)")

    def _require_file(self) -> None:
        self._require_home()
        if not self.path.is_file():
            raise RegistryError(
                f"no registry in {self.home}: is it the --workdir a `local_mode run` used? (a run creates "
                f"{REGISTRY_FILE})"
            )
        if self.path.stat().st_size == 0:
            raise RegistryError(
                f"{self.path} is empty (0 bytes), not a registry: restore it from a copy, or delete it and rerun the "
                "pipeline to start an empty registry"
            )

    def create_group(self, name: str, description: str = "") -> bool:
        """Create the group if it does not exist (as the stack does at deploy); True when it was created."""
        with self._transaction(write=True, create=True) as db:
            created = db.execute(
                "INSERT OR IGNORE INTO model_package_groups VALUES (?, ?, ?)", (name, description, _now())
            ).rowcount
        return bool(created)

    def groups(self) -> list[str]:
        with self._transaction(write=False) as db:
            return [row[0] for row in db.execute("SELECT name FROM model_package_groups ORDER BY name")]

    def register(
        self,
        group: str,
        *,
        status: str,
        description: str,
        inference_specification: dict,
        model_metrics: dict,
        drift_check_baselines: dict,
        customer_metadata: dict,
        pipeline_execution: str,
        sample_payload_url: str | None = None,
    ) -> ModelPackage:
        """Add the next version of `group` (which must exist), as RegisterModel does."""
        if status not in STATUSES:
            raise RegistryError(f"approval status {status!r} is not one of {list(STATUSES)}")
        with self._transaction(write=True) as db:
            self._require_group(db, group)
            (version,) = db.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_packages WHERE group_name = ?", (group,)
            ).fetchone()
            db.execute(
                "INSERT INTO model_packages (group_name, version, status, description, inference_specification,"
                " model_metrics, drift_check_baselines, customer_metadata, pipeline_execution, created_at,"
                " sample_payload_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    group,
                    version,
                    status,
                    description,
                    json.dumps(inference_specification, sort_keys=True),
                    json.dumps(model_metrics, sort_keys=True),
                    json.dumps(drift_check_baselines, sort_keys=True),
                    json.dumps(customer_metadata, sort_keys=True),
                    pipeline_execution,
                    _now(),
                    sample_payload_url,
                ),
            )
        return self.package(group, version)

    def packages(self, group: str, *, status: str | None = None) -> list[ModelPackage]:
        """The group's packages, newest first, optionally of one status."""
        with self._transaction(write=False) as db:
            self._require_group(db, group)
            query, arguments = "SELECT * FROM model_packages WHERE group_name = ?", [group]
            if status is not None:
                query += " AND status = ?"
                arguments.append(status)
            rows = db.execute(query + " ORDER BY version DESC", arguments).fetchall()
        return [_package(row) for row in rows]

    def package(self, group: str, version: int) -> ModelPackage:
        with self._transaction(write=False) as db:
            row = self._row(db, group, version)
        return _package(row)

    def newest(self, group: str, status: str) -> ModelPackage | None:
        found = self.packages(group, status=status)
        return found[0] if found else None

    def decide(
        self,
        group: str,
        version: int,
        status: str,
        *,
        approver: str | None = None,
        comment: str = "",
        overrule: bool = False,
    ) -> ModelPackage:
        """Approve or reject a package: only the moves in TRANSITIONS are allowed, and reversing a decision takes
        `overrule`, so of an approval and a rejection that race, the later one fails naming the earlier."""
        with self._transaction(write=True) as db:
            current = _package(self._row(db, group, version))
            if status not in TRANSITIONS[current.status]:
                allowed = " or ".join(TRANSITIONS[current.status])
                raise RegistryError(
                    f"{group}/{version} is {current.status}: it can become {allowed}, not {status}"
                    if status != current.status
                    else f"{group}/{version} is {current.status} already, by {current.decided_by} at "
                    f"{current.decided_at}"
                )
            if current.status != PENDING and not overrule:
                raise RegistryError(
                    f"{group}/{version} was {current.status} by {current.decided_by} at {current.decided_at} "
                    f"({printable(current.comment) or 'no comment'}): to reverse that decision, pass --overrule"
                )
            db.execute(
                "UPDATE model_packages SET status = ?, decided_at = ?, decided_by = ?, comment = ?"
                " WHERE group_name = ? AND version = ?",
                (status, _now(), approver or _user(), comment, group, version),
            )
        return self.package(group, version)

    @classmethod
    def _row(cls, db: sqlite3.Connection, group: str, version: int) -> tuple:
        """One package's row; an unknown group or version is an error that lists what exists."""
        cls._require_group(db, group)
        row = db.execute(
            "SELECT * FROM model_packages WHERE group_name = ? AND version = ?", (group, version)
        ).fetchone()
        if row is None:
            known = [v for (v,) in db.execute("SELECT version FROM model_packages WHERE group_name = ?", (group,))]
            raise RegistryError(f"group {group!r} has no version {version} (versions: {known or 'none'})")
        return row

    @staticmethod
    def _require_group(db: sqlite3.Connection, group: str) -> None:
        if db.execute("SELECT 1 FROM model_package_groups WHERE name = ?", (group,)).fetchone() is None:
            known = [name for (name,) in db.execute("SELECT name FROM model_package_groups ORDER BY name")]
            raise RegistryError(f"no model package group {group!r} (groups: {known or 'none yet'})")


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    present = {row[1] for row in connection.execute("PRAGMA table_info(model_packages)")}
    for name, kind in _ADDED_COLUMNS:
        if name not in present:
            connection.execute(f"ALTER TABLE model_packages ADD COLUMN {name} {kind}")


def _package(row: tuple) -> ModelPackage:
    (group, version, status, description, spec, metrics, baselines, metadata, execution, created, *rest) = row
    return ModelPackage(
        group,
        version,
        status,
        description,
        json.loads(spec),
        json.loads(metrics),
        json.loads(baselines),
        json.loads(metadata),
        execution,
        created,
        *rest,  # decided_at, decided_by, comment, sample_payload_url
    )


class LocalSageMakerClient:
    """The registry reads champion.py makes (ListModelPackages, DescribeModelPackage), in boto3's shapes."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def list_model_packages(
        self,
        *,
        ModelPackageGroupName: str,  # noqa: N803 (boto3's argument names)
        ModelApprovalStatus: str | None = None,  # noqa: N803
        SortBy: str = "CreationTime",  # noqa: N803
        SortOrder: str = "Ascending",  # noqa: N803
        MaxResults: int = 100,  # noqa: N803
    ) -> dict:
        if SortBy != "CreationTime":
            raise RegistryError(f"the local registry sorts by CreationTime only, not {SortBy}")
        found = self.registry.packages(ModelPackageGroupName, status=ModelApprovalStatus)  # newest first
        if SortOrder == "Ascending":
            found.reverse()
        return {"ModelPackageSummaryList": [_summary(package) for package in found[:MaxResults]]}

    def describe_model_package(self, *, ModelPackageName: str) -> dict:  # noqa: N803
        package = self.registry.package(*parse_arn(ModelPackageName))
        return {
            **_summary(package),
            "ModelPackageDescription": package.description,
            "InferenceSpecification": package.inference_specification,
            "ModelMetrics": package.model_metrics,
            "DriftCheckBaselines": package.drift_check_baselines,
            "CustomerMetadataProperties": package.customer_metadata,
            **({"SamplePayloadUrl": package.sample_payload_url} if package.sample_payload_url else {}),
            **(
                {
                    "ApprovalDescription": package.comment or "",
                    "LastModifiedTime": package.decided_at,
                    "LastModifiedBy": {"UserProfileName": package.decided_by},
                }
                if package.decided_at
                else {}
            ),
        }


def _summary(package: ModelPackage) -> dict:
    return {
        "ModelPackageGroupName": package.group,
        "ModelPackageVersion": package.version,
        "ModelPackageArn": package.arn,
        "ModelApprovalStatus": package.status,
        "CreationTime": package.created_at,
    }


class LocalS3Client:
    """`get_object` and `list_objects_v2` on the local buckets, in boto3's shapes."""

    def __init__(self, s3: LocalS3) -> None:
        self.s3 = s3

    def get_object(self, *, Bucket: str, Key: str) -> dict:  # noqa: N803
        path = self.s3.path(f"s3://{Bucket}/{Key}")
        if not path.is_file():
            raise FileNotFoundError(f"no object s3://{Bucket}/{Key} (looked at {path})")
        return {"Body": io.BytesIO(path.read_bytes())}

    def list_objects_v2(self, *, Bucket: str, Prefix: str = "") -> dict:  # noqa: N803
        """Every object under the prefix, in one page (a local bucket is small)."""
        root = self.s3.path(f"s3://{Bucket}")
        folder = self.s3.path(f"s3://{Bucket}/{Prefix.rpartition('/')[0]}") if "/" in Prefix else root
        keys = (
            sorted(path.relative_to(root).as_posix() for path in folder.rglob("*") if path.is_file())
            if folder.is_dir()
            else []
        )
        return {"Contents": [{"Key": key} for key in keys if key.startswith(Prefix)], "IsTruncated": False}


def local_clients(home: Path) -> tuple[LocalSageMakerClient, LocalS3Client]:
    """The registry clients of a local home, in boto3's shapes."""
    return LocalSageMakerClient(Registry(home)), LocalS3Client(LocalS3(home))


def step_clients() -> tuple[LocalSageMakerClient, LocalS3Client]:
    """The registry clients of the home the step runs in (LOCAL_MODE_HOME): what the steps that read the registry
    (the champion, the approved and the served model) get locally, named to them in MLOPS_REGISTRY_CLIENTS."""
    return local_clients(Path(os.environ[settings.LOCAL_HOME_ENV]))


STEP_CLIENTS = f"{__name__}:{step_clients.__name__}"  # the value of MLOPS_REGISTRY_CLIENTS
