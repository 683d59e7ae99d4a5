"""The hosts of a job, and XGBoost's collective over them: how several instances train one model (or preprocess
one dataset, ml_code/processing/preprocess.py).

SageMaker starts the same script on every host of a job and tells each who it is: `SM_HOSTS` and `SM_CURRENT_HOST`
in script mode (also in `/opt/ml/input/config/resourceconfig.json`). The first host (in sorted order, as the XGBoost
container's own distributed mode chooses) runs XGBoost's tracker; every host joins it with rank = its position, and
from then on `xgboost.train` builds one model from all hosts' rows: the quantile sketch, the gradients' histograms
and the evaluation metrics are all-reduced over the hosts.

How a host gets its rows: a channel SageMaker shards by S3 key (`ShardedByS3Key`) gives each host some of the files;
a fully replicated channel gives every host all of them, and then each host keeps its block of the rows
(`row_block`). Local mode runs the hosts as processes of one machine, whose names do not resolve: it tells them where
the tracker listens with `TRACKER_ENV` (loopback and a free port).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

RESOURCE_CONFIG = "/opt/ml/input/config/resourceconfig.json"  # a training job's
PROCESSING_RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"  # a processing job's (no SM_HOSTS there)
TRACKER_PORT = 9099  # the XGBoost container's (distributed.py): free on a training host
TRACKER_ENV = "MLOPS_COLLECTIVE_TRACKER"  # "<address>:<port>": where the tracker listens, when not the first host's
# How long a host waits for the others (their start, the first host's name to resolve): SageMaker starts the hosts
# of a job together, but not at the same second.
CONNECT_SECONDS = 300
RETRY_SECONDS = 1.0
# The other hosts give the first a moment to start its tracker: a connection it refuses costs XGBoost's own retries
# (about 6 s) before ours.
TRACKER_HEAD_START_SECONDS = 0.5
SHARDED, REPLICATED = "ShardedByS3Key", "FullyReplicated"  # how SageMaker distributes a channel or an input


@dataclass(frozen=True)
class Cluster:
    """The job's hosts (sorted) and this one."""

    hosts: tuple[str, ...]
    current: str

    def __post_init__(self) -> None:
        if not self.hosts or self.current not in self.hosts:
            raise ValueError(f"host {self.current!r} is not among the job's hosts {list(self.hosts)}")
        if len(set(self.hosts)) != len(self.hosts):
            raise ValueError(f"the job's hosts {list(self.hosts)} repeat a name")

    @property
    def rank(self) -> int:
        return self.hosts.index(self.current)

    @property
    def size(self) -> int:
        return len(self.hosts)

    @property
    def leader(self) -> bool:
        """The first host: it runs the tracker and writes the model (every host holds the same one)."""
        return self.rank == 0

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ, resource_config: str = RESOURCE_CONFIG) -> Cluster:
        """From `SM_HOSTS` and `SM_CURRENT_HOST`, else the resource config; one host (`algo-1`) when neither is
        there (a run outside SageMaker)."""
        if "SM_HOSTS" in env and "SM_CURRENT_HOST" in env:
            hosts, current = json.loads(env["SM_HOSTS"]), env["SM_CURRENT_HOST"]
        elif Path(resource_config).is_file():
            config = json.loads(Path(resource_config).read_text())
            hosts, current = config["hosts"], config["current_host"]
        else:
            hosts, current = ["algo-1"], "algo-1"
        return cls(hosts=tuple(sorted(hosts)), current=current)

    def tracker(self, env: Mapping[str, str] = os.environ) -> tuple[str, int]:
        """Where the tracker listens: `TRACKER_ENV` when set, else the first host on `TRACKER_PORT`."""
        given = env.get(TRACKER_ENV)
        if not given:
            return self.hosts[0], TRACKER_PORT
        address, separator, port = given.rpartition(":")
        if not separator or not address or not port.isdigit():
            raise ValueError(f"{TRACKER_ENV}={given!r} is not <address>:<port>")
        return address, int(port)

    def row_block(self, rows: int) -> slice:
        """This host's block of `rows` rows that every host holds (a fully replicated channel)."""
        return slice(self.rank * rows // self.size, (self.rank + 1) * rows // self.size)


def gather(cluster: Cluster, value: object) -> list:
    """Every host's `value` (anything pickled), in the hosts' order, on every host (within `collective`)."""
    if cluster.size == 1:
        return [value]
    from xgboost import collective as xgb_collective  # noqa: PLC0415  (only a cluster needs it)

    return [xgb_collective.broadcast(value, rank) for rank in range(cluster.size)]


def channel_distribution(channel: str, env: Mapping[str, str] = os.environ) -> str:
    """How SageMaker distributed `channel` to the hosts (`SM_INPUT_DATA_CONFIG`): ShardedByS3Key or FullyReplicated
    (the default, also when unsaid)."""
    config = json.loads(env.get("SM_INPUT_DATA_CONFIG") or "{}")
    return config.get(channel, {}).get("S3DistributionType", REPLICATED)


@contextlib.contextmanager
def collective(cluster: Cluster, env: Mapping[str, str] = os.environ, *, connect_seconds: float = CONNECT_SECONDS):
    """XGBoost's collective over the cluster's hosts for the block's duration (nothing to join on one host). The
    leader starts the tracker; every host connects, retrying until the tracker listens, for `connect_seconds`."""
    if cluster.size == 1:
        yield
        return
    from xgboost import collective as xgb_collective  # noqa: PLC0415  (only a cluster needs it)
    from xgboost.tracker import RabitTracker  # noqa: PLC0415

    host, port = cluster.tracker(env)
    address = _resolve(host, connect_seconds)
    tracker = None
    if cluster.leader:
        tracker = RabitTracker(n_workers=cluster.size, host_ip=address, port=port, sortby="task")
        tracker.start()
        logger.info("tracker for %d hosts listening on %s:%d", cluster.size, address, port)
    worker = {
        "dmlc_tracker_uri": address,
        "dmlc_tracker_port": port,
        "dmlc_task_id": str(cluster.rank),  # with sortby="task": rank = position among the sorted hosts
        "dmlc_timeout": int(connect_seconds),
    }
    if not cluster.leader:
        time.sleep(TRACKER_HEAD_START_SECONDS)
    with _joined(xgb_collective, worker, connect_seconds):
        logger.info("host %s joined as rank %d of %d", cluster.current, cluster.rank, cluster.size)
        yield
    if tracker is not None:
        tracker.wait_for(connect_seconds)


@contextlib.contextmanager
def _joined(xgb_collective, worker: dict, connect_seconds: float) -> Iterator[None]:
    """Connect to the tracker (which may not listen yet: the leader may still be starting), then hold the
    connection for the block."""
    deadline = time.monotonic() + connect_seconds
    while True:
        context = xgb_collective.CommunicatorContext(**worker)
        try:
            context.__enter__()
            break
        except Exception as error:  # the tracker does not listen yet: XGBoost raises its own error type
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"no tracker at {worker['dmlc_tracker_uri']}:{worker['dmlc_tracker_port']} after "
                    f"{connect_seconds:.0f} s: {error}"
                ) from error
            time.sleep(RETRY_SECONDS)
    try:
        yield
    except BaseException:
        try:  # the others may have gone already (they failed too): leaving then fails, and must not hide why
            context.__exit__(None, None, None)
        except Exception as error:  # XGBoost raises its own error type
            logger.warning("leaving the collective after a failure failed as well: %s", str(error).splitlines()[0])
        raise
    context.__exit__(None, None, None)


def _resolve(host: str, connect_seconds: float) -> str:
    """The host's address, once its name resolves (a new host's name may take a moment to)."""
    deadline = time.monotonic() + connect_seconds
    while True:
        try:
            return socket.gethostbyname(host)
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(RETRY_SECONDS)
