"""One ETL run: new raw files -> curated CSV, quarantine and a run manifest. Shared by Glue and local mode.

The manifests are the job's ledger: every run records the source files it processed, each with its version
(size and modification time), and the next run skips those versions, so event-triggered and scheduled runs
never process a file twice, and a file written again with new content is processed again. The manifest is written last
but one: a run that died before it left output folders without one, which the next run removes before it processes
the same files again, so nothing is lost and nothing is written twice. Last, the run marks its curated folder as
recorded (RUN_RECORDED_MARKER), and training reads only marked folders; a run that died between the two is marked
by the next.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass, replace

from pyspark.sql import SparkSession

from ml_code.contracts.contract import DatasetContract
from ml_code.etl.storage import (
    NOT_JSON,
    UnreadableFile,
    delete_tree,
    dumps,
    file_exists,
    file_versions,
    list_files,
    read_raw,
    read_texts,
    same_file,
    screen_files,
    write_text,
)
from ml_code.etl.transforms import EtlCounts, transform
from ml_code.paths import RUN_RECORDED_MARKER

logger = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".json"
_RUN_FOLDER = re.compile(r"^(.*/run=([^/]+))/")


@dataclass(frozen=True)
class EtlLocations:
    """Where a run reads and writes (S3 URIs on AWS, file URIs locally)."""

    raw: str
    curated: str
    quarantine: str
    manifests: str

    def run_folder(self, base: str, ingest_date: str, run_id: str) -> str:
        return f"{base.rstrip('/')}/ingest_date={ingest_date}/run={run_id}"


def read_manifests(spark: SparkSession, manifests_uri: str) -> list[dict]:
    """The manifests of the runs that finished; one that is not JSON (truncated, edited) fails naming it."""
    manifests = [uri for uri in list_files(spark, manifests_uri) if uri.endswith(MANIFEST_SUFFIX)]
    way_out = "restore it from the bucket's previous version, or delete it to process that run's files again"
    try:
        texts = read_texts(spark, manifests)
    except UnreadableFile as error:
        raise ValueError(f"the ETL's ledger has a manifest that cannot be read: {error}; {way_out}") from None
    parsed = []
    for uri, text in texts.items():
        try:
            parsed.append(json.loads(text))
        except json.JSONDecodeError as error:
            raise ValueError(f"the ETL's ledger has a manifest that is not JSON: {uri} ({error}); {way_out}") from error
    return parsed


def _process(
    spark: SparkSession,
    contract: DatasetContract,
    locations: EtlLocations,
    files: list[str],
    *,
    key: bytes,
    run_id: str,
    ingest_date: str,
) -> dict:
    """The run's outputs and counts: files that hold no record are quarantined whole, with the reason; the
    records of the others go through `transform`."""
    rejected = screen_files(spark, files)
    readable = [uri for uri in files if uri not in rejected]
    frames = []
    counts = EtlCounts(read=0, written=0, quarantined=0, duplicates=0, quarantined_by_reason={})
    outputs = {}
    if readable:
        result = transform(read_raw(spark, readable), contract, key)
        unparsed = {same_file(source) for source in result.unparsed_files}
        rejected.update({uri: NOT_JSON for uri in readable if same_file(uri) in unparsed})
        if len(rejected) < len(files):
            curated = locations.run_folder(locations.curated, ingest_date, run_id)
            # quote and escape by RFC 4180 (a quote doubles), as pandas and most readers expect
            result.curated.write.option("header", True).option("escape", '"').mode("errorifexists").csv(curated)
            outputs["curated"] = curated
            frames.append(result.quarantine)
            counts = result.counts
    if rejected:
        files_frame = spark.createDataFrame(
            [(reason, uri, None, None) for uri, reason in sorted(rejected.items())],
            "reason string, source_file string, raw_hmac string, record string",
        )
        frames.append(files_frame)
        logger.warning("%d file(s) hold no record and are quarantined whole: %s", len(rejected), sorted(rejected))
    quarantine = locations.run_folder(locations.quarantine, ingest_date, run_id)
    combined = frames[0]
    for frame in frames[1:]:
        combined = combined.unionByName(frame)
    combined.write.mode("errorifexists").json(quarantine)
    outputs["quarantine"] = quarantine
    counts = replace(counts, quarantined_files=dict(sorted(Counter(rejected.values()).items())))
    return {"outputs": outputs, "counts": asdict(counts)}


def processed_versions(manifests: list[dict]) -> set[tuple[str, str | None]]:
    """(file, version) of every file a finished run processed; version None for runs from before versions were
    recorded (their files count as processed, whatever their content)."""
    seen = set()
    for manifest in manifests:
        versions = manifest.get("source_versions")
        if versions is None:
            seen |= {(uri, None) for uri in manifest["source_files"]}
        else:
            seen |= set(versions.items())
    return seen


def remove_unfinished_runs(spark: SparkSession, locations: EtlLocations, finished: set[str]) -> list[str]:
    """Delete the output folders of runs that wrote data but no manifest (they died); return them."""
    removed = []
    for base in (locations.curated, locations.quarantine):
        folders = {m.group(1) for uri in list_files(spark, base) if (m := _RUN_FOLDER.match(uri))}
        for folder in sorted(folders):
            if _RUN_FOLDER.match(folder + "/").group(2) not in finished:
                logger.warning("removing %s: its run left no manifest, so its files are processed again", folder)
                delete_tree(spark, folder)
                removed.append(folder)
    return removed


def run_etl(
    spark: SparkSession,
    contract: DatasetContract,
    locations: EtlLocations,
    *,
    key: bytes,
    run_id: str,
    ingest_date: str,
) -> dict:
    """Process the raw files no earlier run has processed; write the manifest last and return it."""
    manifests = read_manifests(spark, locations.manifests)
    remove_unfinished_runs(spark, locations, {manifest["run_id"] for manifest in manifests})
    mark_recorded_runs(spark, manifests)
    seen = processed_versions(manifests)
    versions = file_versions(spark, locations.raw)
    new_files = [uri for uri, version in versions.items() if (uri, version) not in seen and (uri, None) not in seen]
    logger.info("%d new raw file(s) under %s (%d processed before)", len(new_files), locations.raw, len(seen))
    manifest = {
        "run_id": run_id,
        "contract": contract.name,
        "ingest_date": ingest_date,
        "source_files": new_files,
        "source_versions": {uri: versions[uri] for uri in new_files},
        "outputs": {},
        "counts": asdict(EtlCounts(read=0, written=0, quarantined=0, duplicates=0, quarantined_by_reason={})),
    }
    if new_files:
        manifest.update(
            _process(spark, contract, locations, new_files, key=key, run_id=run_id, ingest_date=ingest_date)
        )
    write_text(spark, f"{locations.manifests.rstrip('/')}/run={run_id}{MANIFEST_SUFFIX}", dumps(manifest))
    mark_recorded_runs(spark, [manifest])
    logger.info("run %s: %s", run_id, manifest["counts"])
    return manifest


def mark_recorded_runs(spark: SparkSession, manifests: list[dict]) -> list[str]:
    """Mark the curated folder of each run in `manifests` as recorded, where it is not yet (a run that died after
    its manifest); return the folders marked."""
    marked = []
    for manifest in manifests:
        curated = manifest.get("outputs", {}).get("curated")
        if curated and not file_exists(spark, f"{curated}/{RUN_RECORDED_MARKER}"):
            write_text(spark, f"{curated}/{RUN_RECORDED_MARKER}", manifest["run_id"])
            marked.append(curated)
    return marked
