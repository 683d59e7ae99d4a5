"""python -m local_mode {generate,etl,run,tune,definition,registry,serve,score,lineage,reproduce,monitor,demo} ...:
the platform's loop on this machine, offline."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from local_mode.experiments import UI_PORT
from local_mode.runner import EXIT_ERROR
from local_mode.tune import DEFAULT_PARALLEL, MAX_PARALLEL
from ml_code import settings

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local_mode", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write a synthetic customer-churn CRM export")
    generate.add_argument("--output", type=Path, required=True, help="the file to write")
    generate.add_argument("--rows", type=int, default=20_000, help="records to write (default: %(default)s)")
    generate.add_argument("--seed", type=int, default=7, help="the same seed writes the same records")
    generate.add_argument("--drift", action="store_true", help="shift feature distributions, as live data might")
    generate.add_argument(
        "--bias",
        type=float,
        default=0.0,
        help="make churn depend on gender by this much (log-odds for women), for the fairness report to find",
    )
    generate.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="JSON lines, as the raw bucket gets them, or CSV"
    )
    generate.add_argument(
        "--defect-rate", type=float, default=0.0, help="share of broken records (JSON lines only), e.g. 0.01"
    )

    etl = commands.add_parser("etl", help="raw JSON -> curated CSV + quarantine + manifest, on local Spark")
    etl.add_argument("--contract", required=True, help="a contract file, or the name of a shipped contract")
    etl.add_argument("--input", type=Path, required=True, help="a raw JSON file or a folder of them")
    etl.add_argument("--output", type=Path, required=True, help="gets curated/, quarantine/ and manifests/")
    key = etl.add_mutually_exclusive_group(required=True)
    key.add_argument("--hash-key-file", type=Path, help="a file holding the secret key for hashing PII")
    key.add_argument("--hash-key", help="the secret key itself (visible in the process list: prefer a file)")

    run = commands.add_parser("run", help="run the pipeline definition on a CSV file or folder, into the registry")
    training_data(run, seed_help="the pipeline's Seed parameter")
    run.add_argument("--hyperparameter", action="append", default=[], metavar="NAME=VALUE", help="passed to train.py")
    run.add_argument(
        "--parameter", action="append", default=[], metavar="NAME=VALUE", help="a pipeline parameter: GateThreshold=0.8"
    )
    run.add_argument("--definition", type=Path, help="an exported definition (make definition); default: build it")
    run.add_argument("--tuned", action="store_true", help="train with the best hyperparameters of `tune`'s last run")

    tune = commands.add_parser("tune", help="search ml_code/training/search_space.json on a CSV file or folder")
    training_data(tune, seed_help="the split, the sampler and the models")
    tune.add_argument("--trials", type=int, default=20, help="models to train (default: %(default)s)")
    tune.add_argument(
        "--parallel", type=int, default=DEFAULT_PARALLEL, help=f"trials at a time, at most {MAX_PARALLEL} (CPUs)"
    )

    definition = commands.add_parser("definition", help="export the pipeline definition local mode runs, as JSON")
    definition.add_argument("--contract", required=True, help="a contract file, or the name of a shipped contract")
    definition.add_argument("--output", type=Path, required=True, help="a folder; the file is <pipeline>.json")

    registry = commands.add_parser("registry", help="the local model registry: list, show, approve, reject")
    actions = registry.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the groups, or one group's versions")
    workdir(listing)
    listing.add_argument("--group", help="list this group's versions")
    for name in ("show", "approve", "reject"):
        action = actions.add_parser(name, help=f"{name} a model package")
        workdir(action)
        action.add_argument("--group", required=True, help="the model package group")
        action.add_argument("--version", type=int, required=True, help="the package's version in the group")
        if name != "show":
            action.add_argument("--approver", help="who decides (default: the user name)")
            action.add_argument("--comment", default="", help="why, kept with the decision")
            action.add_argument(
                "--overrule",
                action="store_true",
                help="reverse an earlier decision (withdraw an approval, approve what was rejected)",
            )

    serve = commands.add_parser("serve", help="serve an Approved model (or a model.tar.gz) over HTTP, until Ctrl-C")
    workdir(serve)
    model = serve.add_mutually_exclusive_group(required=True)
    model.add_argument("--group", help="serve this group's newest Approved version (or --version)")
    model.add_argument("--model", type=Path, help="a model.tar.gz (needs --endpoint)")
    serve.add_argument("--version", type=int, help="an Approved version of --group (default: the newest)")
    serve.add_argument("--endpoint", help="the endpoint's name (default: the group's)")
    serve.add_argument("--port", type=int, default=8080, help="the loopback port to serve on (default: %(default)s)")
    serve.add_argument("--workers", type=int, default=2, help="server processes (default: %(default)s)")
    serve.add_argument("--capture-percentage", type=float, default=100.0, help="data capture sampling, 0-100")
    serve.add_argument("--no-capture", action="store_true", help="capture nothing")

    score = commands.add_parser("score", help="batch scoring: CSV scored with a group's newest Approved model")
    workdir(score)
    score.add_argument("--contract", required=True, help="a contract file, or the name of a shipped contract")
    score.add_argument("--data", type=Path, required=True, help="a CSV file with a header, or a folder of them")
    score.add_argument("--python", help="the interpreter the steps run with (default: .venv-ml's)")

    trace = commands.add_parser("lineage", help="where a prediction came from: its package, run, commit and raw files")
    workdir(trace)
    trace.add_argument("--inference-id", help="the X-Amzn-SageMaker-Inference-Id the request was sent with")
    trace.add_argument("--endpoint", help="the endpoint that answered (without --inference-id: its request at --at)")
    trace.add_argument("--at", help="when it answered, ISO 8601 (locally: to the second; --aws: that hour or the next)")
    trace.add_argument("--aws", action="store_true", help="walk the chain on AWS, through its APIs")
    trace.add_argument("--bucket", help="with --aws: the stage's monitoring bucket, where the endpoint captures")

    again = commands.add_parser("reproduce", help="train a package again from its lineage and compare every output")
    workdir(again)
    again.add_argument("--group", required=True, help="the package's model package group")
    again.add_argument("--version", type=int, required=True, help="the package's version")
    again.add_argument("--python", help="the interpreter the steps run with (default: .venv-ml's)")

    monitor = commands.add_parser("monitor", help="a monitoring run of an endpoint's captured traffic, and its alarms")
    workdir(monitor)
    monitor.add_argument(
        "--group", required=True, help="the served model's group (its baseline is the served version's)"
    )
    monitor.add_argument("--version", type=int, help="the served version (default: the newest Approved)")
    monitor.add_argument("--endpoint", help="the endpoint's name (default: the group's)")
    monitor.add_argument("--contract", help="default: the contract the package was trained with")

    ui = commands.add_parser("ui", help="MLflow's UI on the workdir's runs, on loopback, until Ctrl-C")
    workdir(ui)
    ui.add_argument("--port", type=int, default=UI_PORT, help="default: %(default)s")

    demo = commands.add_parser("demo", help="the whole loop, from raw export to a retrained candidate")
    demo.add_argument(
        "--workdir", type=Path, default=Path("work/demo"), help="replaced by each demo (default: work/demo)"
    )
    demo.add_argument(
        "--rows", type=int, default=20_000, help="records of each synthetic export (default: %(default)s)"
    )
    return parser.parse_args(argv)


def training_data(parser: argparse.ArgumentParser, *, seed_help: str) -> None:
    """What `run` and `tune` train on: the contract, the data, local mode's home, the seed and the interpreter."""
    parser.add_argument("--contract", required=True, help="a contract file, or the name of a shipped contract")
    parser.add_argument(
        "--data", type=Path, required=True, help="a CSV file with a header (or give --columns), or a folder of them"
    )
    workdir(parser)
    parser.add_argument("--columns", help="comma-separated column names, for a CSV file without a header")
    parser.add_argument("--seed", type=int, default=settings.DEFAULT_SEED, help=seed_help)
    parser.add_argument("--python", help="the interpreter the steps run with (default: .venv-ml's)")


def workdir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workdir", type=Path, default=Path("work"), help="local mode's home: buckets, registry, runs (default: work)"
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    args = parse_args(argv)
    try:
        if args.command == "generate":
            from local_mode.churn_data import generate, write

            records = generate(
                args.rows, seed=args.seed, drift=args.drift, defect_rate=args.defect_rate, bias=args.bias
            )
            count = write(args.output, records, fmt=args.format)
            print(f"wrote {count} records to {args.output}")
            return 0
        if args.command == "etl":
            return _etl(args)
        if args.command == "definition":
            from local_mode.definition import export
            from ml_code.contracts.contract import load_contract

            print(f"wrote {export(load_contract(args.contract), args.output)}")
            return 0
        if args.command == "registry":
            from local_mode.registry_cli import registry_command

            print(registry_command(args))
            return 0
        if args.command == "serve":
            return _serve(args)
        if args.command == "monitor":
            return _monitor(args)
        if args.command == "score":
            return _score(args)
        if args.command == "reproduce":
            from local_mode.reproduce import describe as described
            from local_mode.reproduce import reproduce

            result = reproduce(args.workdir, args.group, args.version, python=args.python)
            print(described(result))
            return 0 if result.reproduced else EXIT_ERROR
        if args.command == "lineage":
            return _lineage(args)
        if args.command == "tune":
            return _tune(args)
        if args.command == "ui":
            return _ui(args)
        if args.command == "demo":
            from local_mode.demo import run_demo

            run_demo(args.workdir, rows=args.rows)
            return 0
        return _run(args)
    except KeyboardInterrupt:  # Ctrl-C: what was finished is kept (each command says where); no traceback
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the CLI's boundary: one clear line and exit 1
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR


def _etl(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        raise RuntimeError("the ETL needs pyspark, in the CDK app's environment: `make venv`, then .venv/bin/python")
    from local_mode.etl import run_local_etl
    from ml_code.contracts.contract import load_contract

    try:
        key = args.hash_key_file.read_bytes().strip() if args.hash_key_file else args.hash_key.encode()
    except OSError as error:
        raise ValueError(f"the hash key file {args.hash_key_file} cannot be read: {error.strerror}") from None
    manifest = run_local_etl(load_contract(args.contract), args.input, args.output, key=key)
    counts = manifest["counts"]
    print(
        f"etl run {manifest['run_id']}: {len(manifest['source_files'])} new file(s); read {counts['read']}, "
        f"written {counts['written']}, quarantined {counts['quarantined']}, duplicates {counts['duplicates']}"
    )
    for reason, count in counts["quarantined_by_reason"].items():
        print(f"  quarantined {count:>7} {reason}")
    for name, count in counts["undeclared_fields"].items():  # names only: their values never leave the raw data
        print(f"  left behind {count:>7} undeclared field {name!r}")
    for reason, count in counts["quarantined_files"].items():
        print(f"  quarantined {count:>7} whole file(s): {reason}")
    if "curated" in manifest["outputs"]:
        print(f"curated CSV: {manifest['outputs']['curated']}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from local_mode.definition import read_definition
    from local_mode.runner import exit_code, run_pipeline, summary
    from ml_code.contracts.contract import load_contract

    contract = load_contract(args.contract)
    from ml_code.training.hyperparameters import check_hyperparameters

    hyperparameters = check_hyperparameters(_pairs(args.hyperparameter, "--hyperparameter"))
    if args.tuned:
        from local_mode.tune import tuned_hyperparameters

        hyperparameters = {**tuned_hyperparameters(args.workdir, contract.name), **hyperparameters}
    result = run_pipeline(
        args.contract,
        args.data,
        args.workdir,
        python=args.python,
        seed=args.seed,
        columns=args.columns.split(",") if args.columns else None,
        hyperparameters=hyperparameters,
        parameters=_pairs(args.parameter, "--parameter"),
        definition=read_definition(args.definition) if args.definition else None,
    )
    print(summary(result, contract, args.workdir))
    return exit_code(result)


def _tune(args: argparse.Namespace) -> int:
    from local_mode.tune import trial_table, tune

    result = tune(
        args.contract,
        args.data,
        args.workdir,
        trials=args.trials,
        parallel=args.parallel,
        seed=args.seed,
        columns=args.columns.split(",") if args.columns else None,
        python=args.python,
    )
    print(trial_table(result))
    best = result.best
    print(f"best: trial {best.number + 1}, validation {result.metric} {best.value:.4f}; trials in {result.run}")
    print("train with it: python -m local_mode run --tuned ...")
    return 0


def _ui(args: argparse.Namespace) -> int:
    import subprocess

    from local_mode.experiments import ui_command

    command = ui_command(args.workdir, args.port)
    print(f"MLflow's UI on {args.workdir}'s runs: http://127.0.0.1:{args.port} (Ctrl-C stops it)", flush=True)
    return subprocess.run(command, check=False).returncode


def _serve(args: argparse.Namespace) -> int:
    import signal

    from local_mode.serving.endpoint import EndpointSpec, LocalEndpoint, approved_package, package_archive

    if args.model:
        if not args.endpoint:
            raise ValueError("--model needs --endpoint, the name its capture is filed under")
        archive, what, arn = args.model, str(args.model), None
    else:
        package = approved_package(args.workdir, args.group, args.version)
        archive, what = package_archive(args.workdir, package), f"{package.group} version {package.version}"
        arn = package.arn
    spec = EndpointSpec(
        name=args.endpoint or args.group,
        model_archive=archive,
        port=args.port,
        workers=args.workers,
        sampling_percentage=None if args.no_capture else args.capture_percentage,
        model_package_arn=arn,
    )
    endpoint = LocalEndpoint(spec, args.workdir)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as Ctrl-C does: gracefully, capture flushed
    with endpoint:
        capture = (
            "no capture" if args.no_capture else f"capturing {spec.sampling_percentage:g} % to {endpoint.capture_root}"
        )
        print(f"serving {what} at {endpoint.url} ({capture}); Ctrl-C stops it", flush=True)
        try:
            ended = endpoint.process.wait()  # by itself: killed, or failed
        except KeyboardInterrupt:
            ended = None
    if ended is not None:
        how = f"was killed by signal {-ended}" if ended < 0 else f"exited with {ended}"
        print(
            f"error: endpoint {spec.name} stopped unasked: its server {how} (log: {endpoint.log_file})", file=sys.stderr
        )
        return EXIT_ERROR
    print(f"endpoint {spec.name} stopped")
    return 0


def _score(args: argparse.Namespace) -> int:
    from local_mode.scoring import run_batch_scoring

    scoring = run_batch_scoring(args.contract, args.data, args.workdir, python=args.python)
    execution = scoring.execution
    if scoring.summary is None:
        print(f"batch scoring {execution.execution_id} failed: {execution.failure_reason}", file=sys.stderr)
        return EXIT_ERROR
    summary = scoring.summary
    print(
        f"scored {summary['records']} records in {len(summary['files'])} file(s) with "
        f"{summary['model_package_arn']} -> {scoring.predictions}"
    )
    return 0


def _interrupt(*_signal) -> None:
    raise KeyboardInterrupt


def _monitor(args: argparse.Namespace) -> int:
    from local_mode.definition import local_stage
    from local_mode.monitoring import run_monitor
    from local_mode.serving.endpoint import approved_package
    from ml_code.contracts.contract import load_contract

    package = approved_package(args.workdir, args.group, args.version)
    contract_source = args.contract or package.customer_metadata["contract"]
    contract = load_contract(contract_source)
    endpoint = args.endpoint or args.group
    result = run_monitor(
        args.workdir,
        endpoint=endpoint,
        package=package,
        contract_source=contract_source,
        stage=local_stage(contract.name)[1],
    )
    run = result.execution.execution_id
    if result.output is None:
        print(f"monitoring run {run} of {endpoint}: no captured request in the window (missing data)")
    else:
        print(f"monitoring run {run} of {endpoint}: {result.records} records -> {result.output}")
    for violation in result.violations:
        print(f"  {violation['constraint_check_type']:<26} {violation['feature_name']}: {violation['description']}")
    if result.model_quality:
        print(f"  model quality on {result.model_quality['merged_records']} labelled records written")
    for outcome in result.alarms:
        print(f"alarm {outcome.rule.name}: {outcome.state.value} ({outcome.state.reason})")
    return 0


def _lineage(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from local_mode.lineage import aws_lineage, describe, lineage

    at = None
    if args.at:
        at = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    if not args.aws:
        print(describe(lineage(args.workdir, args.inference_id, endpoint=args.endpoint, at=at)))
        return 0
    if not (args.inference_id and args.endpoint and args.bucket and at):
        raise ValueError("--aws needs --inference-id, --endpoint, --bucket and --at: the request, where and when")
    import boto3

    links = aws_lineage(
        boto3.client("sagemaker"),
        boto3.client("s3"),
        bucket=args.bucket,
        endpoint=args.endpoint,
        at=at,
        inference_id=args.inference_id,
    )
    print(describe(links))
    return 0


def _pairs(items: list[str], option: str) -> dict[str, str]:
    bad = [item for item in items if "=" not in item]
    if bad:
        raise ValueError(f"{option} takes NAME=VALUE, got {bad}")
    return dict(item.split("=", 1) for item in items)


if __name__ == "__main__":
    sys.exit(main())
