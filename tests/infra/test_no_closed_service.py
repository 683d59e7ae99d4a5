"""The platform must work in a new AWS account, where SageMaker Model Monitor and SageMaker Clarify are closed
("no longer open to new customers", their availability-change pages in the SageMaker developer guide): no template
and no pipeline definition may name their images, their pipeline steps (QualityCheck, ClarifyCheck) or a step that
needs a shadow endpoint (a model the pipeline creates for Clarify to serve); no template may hold Model Monitor's
schedules or job definitions. The endpoints are monitored by a pipeline of our own jobs (test_monitoring.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from blueprint.pipeline.batch_definition import build_batch_definition
from blueprint.pipeline.definition import REFERENCE_REGION, build_definition, image_uri
from blueprint.pipeline.monitoring_definition import build_monitoring_definition
from blueprint.pipeline.settings import BatchScoringSettings, MonitoringSettings
from tests.infra.test_pipeline_definition import CHURN, SETTINGS, all_steps

CLOSED_IMAGES = tuple(
    image_uri(framework, REFERENCE_REGION).rsplit("/", 1)[1] for framework in ("model-monitor", "clarify")
)
CLOSED_MARKERS = (
    *CLOSED_IMAGES,
    *(name.split(":")[0] for name in CLOSED_IMAGES),  # the repositories, whatever the tag
    "ModelMonitorImageUri",
    "ClarifyImageUri",
    '"Type": "QualityCheck"',
    '"Type": "ClarifyCheck"',
    "sm-clarify",  # the prefix of Clarify's shadow endpoints
)
# Model Monitor's own resources (closed with it)
MONITOR_RESOURCES = (
    "AWS::SageMaker::MonitoringSchedule",
    "AWS::SageMaker::DataQualityJobDefinition",
    "AWS::SageMaker::ModelQualityJobDefinition",
    "AWS::SageMaker::ModelBiasJobDefinition",
    "AWS::SageMaker::ModelExplainabilityJobDefinition",
)


def closed_service_uses(node) -> list[str]:
    text = json.dumps(node, sort_keys=True).replace('\\"', '"')
    return [marker for marker in CLOSED_MARKERS if marker in text]


def findings(template: dict) -> dict[str, list[str]]:
    """Each resource (or mapping) of `template` that names a closed service, and what it names."""
    found = {}
    for section in ("Resources", "Mappings"):
        for logical_id, body in template.get(section, {}).items():
            uses = closed_service_uses(body)
            if section == "Resources" and body["Type"] in MONITOR_RESOURCES:
                uses.append(body["Type"])
            if uses:
                found[logical_id] = uses
    return found


def test_no_template_names_a_closed_service(platform):
    stacks = [stack for stages in platform.stacks.values() for stack in stages.all()]
    stacks += [platform.cicd] if platform.cicd else []
    for stack in stacks:
        template = platform.assembly.get_stack_by_name(stack.stack_name).template
        assert findings(template) == {}, f"{stack.stack_name} names a closed service"


@pytest.mark.parametrize(
    "settings",
    [SETTINGS, dataclasses.replace(SETTINGS, tuning_trials=4), dataclasses.replace(SETTINGS, use_spot=True)],
    ids=["training", "tuning", "spot"],
)
@pytest.mark.parametrize("fairness", [True, False], ids=["fairness", "no-fairness"])
def test_no_pipeline_definition_names_a_closed_service(settings, fairness):
    contract = CHURN if fairness else dataclasses.replace(CHURN, fairness=None)
    definition = build_definition(settings, contract)
    assert closed_service_uses(definition) == []
    steps = all_steps(definition)
    assert {step["Type"] for step in steps.values()} <= {
        "Processing",
        "Training",
        "Tuning",
        "Condition",
        "Fail",
        "RegisterModel",
    }
    for name, step in steps.items():
        image = step.get("Arguments", {}).get("AppSpecification", {}).get("ImageUri")
        assert image in (None, "${XgboostImageUri}"), name


def test_the_batch_and_monitoring_definitions_name_no_closed_service():
    settings = BatchScoringSettings(
        pipeline_name="mlops-test-batch-scoring", model_package_group_name="mlops-test-models"
    )
    assert closed_service_uses(build_batch_definition(settings, CHURN)) == []
    monitoring = MonitoringSettings(pipeline_name="mlops-test-endpoint-monitoring", endpoint_name="mlops-test-endpoint")
    definition = build_monitoring_definition(monitoring, CHURN)
    assert closed_service_uses(definition) == []
    assert {step["Type"] for step in all_steps(definition).values()} == {"Processing", "Condition"}


def test_the_guard_finds_what_it_guards_against():
    quality_check = {"Steps": [{"Name": "Baseline", "Type": "QualityCheck"}]}
    clarify = {
        "Resources": {
            "Job": {"Type": "AWS::SageMaker::Pipeline", "Properties": {"Image": image_uri("clarify", REFERENCE_REGION)}}
        }
    }
    monitor = {"Resources": {"Schedule": {"Type": "AWS::SageMaker::MonitoringSchedule", "Properties": {}}}}
    assert closed_service_uses(quality_check) == ['"Type": "QualityCheck"']
    assert list(findings(clarify)) == ["Job"]
    assert findings(monitor) == {"Schedule": ["AWS::SageMaker::MonitoringSchedule"]}
