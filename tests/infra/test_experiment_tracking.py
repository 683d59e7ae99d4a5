"""The stage's experiment tracking (ModelBuildStack's Experiments): the MLflow tracking server and its artifact store
under the stage's key, the build that logs ended executions (its grants, its triggers, its code), the readers'
policy."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
import zipfile

import botocore.session
import pytest
from aws_cdk.assertions import Match, Template

from blueprint.config import ExperimentsConfig
from blueprint.packages import tracking_zip
from infra.constructs.experiment_tracking import ARTIFACTS_PREFIX, LOGGING_ACTIONS, READING_ACTIONS
from infra.platform import build_platform
from tests.infra.request_shapes import validation_errors
from tests.infra.synth import new_app, role_statements


@pytest.fixture(scope="module")
def dev(platform) -> Template:
    return platform.template(platform.stacks["dev"].model_build)


@pytest.fixture(scope="module")
def prod(platform) -> Template:
    return platform.template(platform.stacks["prod"].model_build)


def build_statements(template: Template) -> list[dict]:
    (role_id,) = [key for key in template.find_resources("AWS::IAM::Role") if key.startswith("ExperimentsLogRunsRole")]
    return role_statements(template, role_id)


def dev_suffix(arn: str) -> str:
    """The artifacts bucket's account-and-region suffix in an object ARN."""
    return arn.split("-artifacts-", 1)[1].split("/", 1)[0]


def grants(statements: list[dict]) -> dict[str, list]:
    """Action -> the resources granted it, over `statements`."""
    found: dict[str, list] = {}
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            found.setdefault(action, []).extend(resources)
    return found


def text(node) -> str:
    """A template value as text, references as `<Id>`."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and "Fn::Join" in node:
        return node["Fn::Join"][0].join(text(part) for part in node["Fn::Join"][1])
    if isinstance(node, dict) and "Ref" in node:
        return f"<{node['Ref']}>"
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        return f"<{'.'.join(node['Fn::GetAtt'])}>"
    return str(node)


def test_a_tracking_server_per_stage_with_its_artifacts_in_the_artifacts_bucket(dev):
    (server,) = dev.find_resources("AWS::SageMaker::MlflowTrackingServer").values()
    properties = server["Properties"]
    assert properties["TrackingServerName"] == "mlops-dev-experiments"
    assert properties["TrackingServerSize"] == "Small"
    assert properties["AutomaticModelRegistration"] is False
    assert text(properties["ArtifactStoreUri"]).startswith("s3://mlops-dev-artifacts-")
    assert text(properties["ArtifactStoreUri"]).endswith(f"/{ARTIFACTS_PREFIX}")
    dev.has_output(
        "TrackingServerArn",
        {"Value": {"Fn::GetAtt": [Match.string_like_regexp("ExperimentsServer"), "TrackingServerArn"]}},
    )


def test_the_server_role_reaches_its_artifact_prefix_under_the_stages_key_and_nothing_else(dev):
    (server,) = dev.find_resources("AWS::SageMaker::MlflowTrackingServer").values()
    role_id = server["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    (role,) = [dev.find_resources("AWS::IAM::Role")[role_id]]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"
    }
    assert "ManagedPolicyArns" not in role["Properties"]  # no AmazonS3FullAccess
    granted = grants(role_statements(dev, role_id))
    objects = {text(r) for action, rs in granted.items() if action.startswith("s3:") for r in rs if "/" in text(r)}
    assert objects and all(o.endswith(f"-artifacts-{dev_suffix(o)}/{ARTIFACTS_PREFIX}/*") for o in objects)
    assert {"kms:Decrypt", "kms:Encrypt"} <= set(granted)
    assert "*" not in {text(r) for rs in granted.values() for r in rs}


def test_the_logging_build_may_write_runs_and_read_only_what_it_logs(prod):
    granted = grants(build_statements(prod))
    for action in LOGGING_ACTIONS:
        (server,) = granted[action]
        assert server["Fn::GetAtt"][1] == "TrackingServerArn", action
    executions = {text(r) for r in granted["sagemaker:ListPipelineExecutionSteps"]}
    assert {e.rsplit(":", 1)[1] for e in executions} == {
        "pipeline/mlops-prod-model-build/execution/*",
        "pipeline/mlops-prod-customer-churn-monitoring/execution/*",
    }
    reads = {text(r).split(":::", 1)[1] for r in granted["s3:GetObject*"] if ":::" in text(r)}
    assert any(r.endswith("/pipelines/mlops-prod-model-build/*") for r in reads)
    assert any(r.endswith("/monitoring-reports/mlops-prod-customer-churn/*") for r in reads)
    writes = [text(r) for r in granted["s3:PutObject"]]
    assert writes and all(w.endswith(f"/{ARTIFACTS_PREFIX}/*") for w in writes)
    assert not any(action.startswith("sagemaker-mlflow:Delete") for action in granted)


def test_an_ended_execution_of_each_pipeline_starts_the_build_with_its_arn(prod):
    rules = {
        text(rule["Properties"]["EventPattern"]["detail"]["pipelineArn"][0]).rsplit("/", 1)[1]: rule
        for rule in prod.find_resources("AWS::Events::Rule").values()
        if rule["Properties"]["EventPattern"].get("detail-type")
        == ["SageMaker Model Building Pipeline Execution Status Change"]
        and any("ExperimentsLogRuns" in text(t["Arn"]) for t in rule["Properties"]["Targets"])
    }
    assert set(rules) == {"mlops-prod-model-build", "mlops-prod-customer-churn-monitoring"}
    for pipeline, kind, reports in (
        ("mlops-prod-model-build", "model-build", "/pipelines/mlops-prod-model-build"),
        ("mlops-prod-customer-churn-monitoring", "monitoring", "/monitoring-reports/mlops-prod-customer-churn"),
    ):
        properties = rules[pipeline]["Properties"]
        assert properties["EventPattern"]["detail"]["currentPipelineExecutionStatus"] == [
            "Succeeded",
            "Failed",
            "Stopped",
        ]
        (target,) = properties["Targets"]
        transformer = target["InputTransformer"]
        assert transformer["InputPathsMap"] == {"detail-pipelineExecutionArn": "$.detail.pipelineExecutionArn"}
        template = text(transformer["InputTemplate"])
        assert '{"name":"EXECUTION_ARN","value":<detail-pipelineExecutionArn>,"type":"PLAINTEXT"}' in template
        assert f'{{"name":"KIND","value":"{kind}","type":"PLAINTEXT"}}' in template
        assert reports + '","type":"PLAINTEXT"}' in template


def test_the_build_installs_its_lock_and_runs_the_tracking_entry_point(prod):
    (project,) = prod.find_resources("AWS::CodeBuild::Project").values()
    properties = project["Properties"]
    spec = properties["Source"]["BuildSpec"]
    assert "pip install --quiet --require-hashes -r locks/tracking.txt" in spec
    assert 'python -m tracking --execution-arn \\"$EXECUTION_ARN\\" --reports \\"$REPORTS\\" --kind \\"$KIND\\"' in spec
    variables = {v["Name"]: v["Value"] for v in properties["Environment"]["EnvironmentVariables"]}
    assert variables["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert "TrackingServerArn" in text(variables["TRACKING_SERVER_ARN"])
    assert properties["EncryptionKey"]


def test_readers_get_a_named_policy_to_open_and_read_runs(prod):
    (policy,) = prod.find_resources("AWS::IAM::ManagedPolicy").values()
    assert policy["Properties"]["ManagedPolicyName"] == "mlops-prod-experiment-readers"
    granted = grants(policy["Properties"]["PolicyDocument"]["Statement"])
    assert set(READING_ACTIONS) | {"sagemaker:CreatePresignedMlflowTrackingServerUrl"} <= set(granted)
    assert not any(action.startswith("s3:Put") or action.endswith(("Create", "LogBatch")) for action in granted)
    prod.has_output("ExperimentReadersPolicy", Match.any_value())


def test_the_build_code_runs_from_its_archive_alone(tmp_path):
    """The archive holds every module of the repository the entry point imports, and the lock: run from an
    extracted copy with nothing else of the repository importable, it parses its arguments and imports its code."""
    with zipfile.ZipFile(tracking_zip()) as archive:
        archive.extractall(tmp_path)
        names = set(archive.namelist())
    assert "locks/tracking.txt" in names
    probe = "import tracking.executions, tracking.__main__ as entry; entry.parse_args(['-h'])"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, env={"PATH": "/usr/bin"}
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--execution-arn" in result.stdout


def test_the_server_fits_the_create_mlflow_tracking_server_api(dev):
    """The server's properties as a CreateMlflowTrackingServer request: botocore's shapes, and the patterns of the
    name and the artifact store (account-and-region tokens as the longest values they take)."""
    (server,) = dev.find_resources("AWS::SageMaker::MlflowTrackingServer").values()
    properties = server["Properties"]
    request = {
        "TrackingServerName": properties["TrackingServerName"],
        "ArtifactStoreUri": text(properties["ArtifactStoreUri"])
        .replace("<AWS::AccountId>", "123456789012")
        .replace("<AWS::Region>", "ap-southeast-2"),
        "RoleArn": "arn:aws:iam::123456789012:role/server",
        "TrackingServerSize": properties["TrackingServerSize"],
        "AutomaticModelRegistration": properties["AutomaticModelRegistration"],
    }
    assert validation_errors("CreateMlflowTrackingServer", request) == ""
    members = (
        botocore.session.get_session()
        .get_service_model("sagemaker")
        .shape_for("CreateMlflowTrackingServerRequest")
        .members
    )
    for name in ("TrackingServerName", "ArtifactStoreUri"):
        assert re.fullmatch(members[name].metadata["pattern"], request[name]), name
        assert len(request[name]) <= members[name].metadata["max"], name


def test_the_server_sizes_are_the_apis():
    sizes = botocore.session.get_session().get_service_model("sagemaker").shape_for("TrackingServerSize").enum
    assert list(typing.get_args(ExperimentsConfig.model_fields["size"].annotation)) == sizes


def test_a_stage_sizes_its_server_or_goes_without_one(tmp_path):
    """Experiment tracking is per stage: a bigger server for a bigger team, or none (no server, build, rule, output)."""
    app = new_app(
        tmp_path,
        **{"platform.stages.dev.experiments.enabled": "false", "platform.stages.prod.experiments.size": "Large"},
    )
    built = build_platform(app)
    without = Template.from_stack(built.stages["dev"].model_build)
    for kind in ("AWS::SageMaker::MlflowTrackingServer", "AWS::CodeBuild::Project", "AWS::Events::Rule"):
        assert [key for key in without.find_resources(kind) if key.startswith("Experiments")] == [], kind
    assert not {"TrackingServerArn", "ExperimentReadersPolicy"} & set(without.find_outputs("*"))
    (server,) = (
        Template.from_stack(built.stages["prod"].model_build)
        .find_resources("AWS::SageMaker::MlflowTrackingServer")
        .values()
    )
    assert server["Properties"]["TrackingServerSize"] == "Large"
