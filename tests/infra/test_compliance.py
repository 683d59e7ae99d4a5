"""cdk-nag AwsSolutions and cfn-lint over the whole synthesized app, and proof that both checks can fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import cx_api as cxapi
from cdk_nag import AwsSolutionsChecks

from tests.infra.synth import new_app

# The only cfn-lint rules the project ignores: W3005 (redundant DependsOn, as CDK writes them) and
# W3045 (access-control settings on log buckets, as CDK writes them).
CFN_LINT_IGNORED = ("W3005", "W3045")
CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))


def cfn_lint(templates: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CFN_LINT, "--ignore-checks", *CFN_LINT_IGNORED, "--", *map(str, templates)],
        capture_output=True,
        text=True,
        check=False,
    )


def validation_findings(outdir: Path) -> list[str]:
    """Every finding of every validation plugin (cdk-nag, CDK's built-in template validation), any severity."""
    report = json.loads((outdir / "validation-report.json").read_text())
    return [
        f"{plugin['pluginName']} {violation['ruleName']}: {violation['description']}"
        for plugin in report["pluginReports"]
        for violation in plugin.get("violations", [])
    ]


def test_the_whole_app_synthesizes_clean_under_cdk_nag_and_cdks_template_validation(platform):
    # The session fixture's app.synth() raises on any unacknowledged cdk-nag finding (see the cdk-nag test
    # below), so reaching here means every stack of every stage passed; CDK's built-in template validation only
    # warns, so its findings are failed here (app.py leaves it to this test).
    expected = {stack.stack_name for stage in platform.stacks.values() for stack in stage.all()}
    expected.add(platform.cicd.stack_name)
    assert {stack.stack_name for stack in platform.assembly.stacks} == expected
    assert validation_findings(platform.outdir) == []


def test_no_stack_carries_a_warning_or_an_error(platform):
    # e.g. the key's cross-stack reference: cdk.json chooses "strong" (the data stack cannot drop the key
    # while the model build uses it) instead of leaving CDK to warn about its default
    messages = [
        f"{stack.stack_name} {message.id}: {message.entry.data}"
        for stack in platform.assembly.stacks
        for message in stack.messages
        if message.level in (cxapi.SynthesisMessageLevel.WARNING, cxapi.SynthesisMessageLevel.ERROR)
    ]
    assert not messages


def test_every_template_passes_cfn_lint(platform):
    templates = sorted(platform.outdir.glob("*.template.json"))
    assert len(templates) == len(platform.assembly.stacks)
    result = cfn_lint(templates)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cdk_nag_fails_a_bucket_without_ssl_enforcement(tmp_path):
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Insecure")
    s3.Bucket(stack, "Plain", server_access_logs_prefix="self/")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    # S10: the bucket does not require SSL
    with pytest.raises(RuntimeError, match=r"does not require requests to use SSL[\s\S]*AwsSolutions-S10"):
        app.synth()


def test_cdks_template_validation_reports_an_invalid_property(tmp_path):
    app = new_app(tmp_path)
    stack = cdk.Stack(app, "Invalid")
    sagemaker.CfnEndpointConfig(
        stack,
        "Config",
        production_variants=[
            sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name="AllTraffic", model_name="m", initial_instance_count=1, instance_type="ml.m5.large"
            )
        ],
        data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            capture_options=[sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input")],
            destination_s3_uri="s3://bucket/capture",
            initial_sampling_percentage=150,
        ),
    )
    app.synth()
    (finding,) = validation_findings(tmp_path)
    assert "InitialSamplingPercentage: 150 is greater than the maximum of 100" in finding


def test_cfn_lint_fails_an_invalid_template(tmp_path):
    template = tmp_path / "broken.template.json"
    template.write_text(
        json.dumps({"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfig": {}}}}})
    )
    result = cfn_lint([template])
    assert result.returncode != 0
    assert "E3002" in result.stdout


def test_a_second_synth_writes_the_same_templates(platform, tmp_path):
    """Nothing in a template depends on when it was synthesized: a deploy of unchanged code changes nothing."""
    from infra.platform import build_platform

    app = new_app(tmp_path)
    build_platform(app)
    app.synth()
    first = sorted(platform.outdir.glob("*.template.json"))
    assert first and [path.name for path in first] == sorted(path.name for path in tmp_path.glob("*.template.json"))
    for path in first:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name
