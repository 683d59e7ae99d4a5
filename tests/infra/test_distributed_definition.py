"""A stage with several training hosts (`training_instances`): the train channel is sharded by S3 key and
preprocessing writes one file of the train split per host; with several processing instances
(`processing_instances`) preprocessing's input is sharded and only preprocessing gets them. With one of each the
golden definitions hold."""

from __future__ import annotations

import dataclasses

import pytest

from blueprint.config import ConfigError, load_config
from blueprint.pipeline.definition import build_definition
from blueprint.pipeline.settings import PipelineSettings
from tests.infra.request_shapes import validation_errors
from tests.infra.synth import cdk_json_context
from tests.infra.test_pipeline_definition import CHURN, SETTINGS, all_steps, as_deployed

COUNT = {"Get": "Parameters.TrainingInstanceCount"}
PROCESSING_COUNT = {"Get": "Parameters.ProcessingInstanceCount"}


@pytest.fixture(scope="module")
def distributed() -> dict:
    return build_definition(dataclasses.replace(SETTINGS, training_instances=3), CHURN)


def distributions(train_step: dict) -> dict[str, str]:
    channels = train_step["Arguments"]["InputDataConfig"]
    return {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3DataDistributionType"] for c in channels}


def test_the_train_channel_is_sharded_and_the_count_defaults_to_the_stages(distributed):
    steps = all_steps(distributed)
    assert distributions(steps["Train"]) == {
        "train": "ShardedByS3Key",  # each host its files of the train split
        "validation": "FullyReplicated",  # every host evaluates on all of it: the same metrics, the same stop
        "transform": "FullyReplicated",
        "code": "FullyReplicated",  # the SDK's channel of the source
    }
    assert steps["Train"]["Arguments"]["ResourceConfig"]["InstanceCount"] == COUNT
    (parameter,) = (p for p in distributed["Parameters"] if p["Name"] == "TrainingInstanceCount")
    assert parameter["DefaultValue"] == 3


def test_preprocessing_writes_one_train_file_per_training_host(distributed):
    arguments = all_steps(distributed)["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    position = arguments.index("--train-parts")
    assert arguments[position + 1] == {"Std:Join": {"On": "", "Values": [COUNT]}}  # the count the run trains with


def test_the_distributed_training_job_is_a_valid_api_request(distributed):
    arguments = dict(all_steps(as_deployed(distributed))["Train"]["Arguments"], TrainingJobName="at-run-time")
    arguments["ResourceConfig"] = dict(arguments["ResourceConfig"], InstanceCount=3)
    assert validation_errors("CreateTrainingJob", arguments) == ""


def test_with_one_host_nothing_is_sharded():
    steps = all_steps(build_definition(SETTINGS, CHURN))
    assert set(distributions(steps["Train"]).values()) == {"FullyReplicated"}
    assert "--train-parts" not in steps["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    for step in processing_steps(steps).values():
        assert step["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == PROCESSING_COUNT
        assert set(input_distributions(step).values()) == {"FullyReplicated"}


def processing_steps(steps: dict) -> dict:
    return {name: step for name, step in steps.items() if step["Type"] == "Processing"}


def input_distributions(step: dict) -> dict[str, str]:
    inputs = step["Arguments"]["ProcessingInputs"]
    return {i["InputName"]: i["S3Input"]["S3DataDistributionType"] for i in inputs if "S3Input" in i}


def test_several_processing_instances_share_preprocessing_only():
    settings = dataclasses.replace(SETTINGS, processing_instances=4)
    definition = build_definition(settings, CHURN)
    steps = processing_steps(all_steps(definition))
    preprocess = steps.pop("Preprocess")["Arguments"]
    assert preprocess["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == PROCESSING_COUNT
    assert input_distributions({"Arguments": preprocess}) == {
        "code_package": "FullyReplicated",
        "code": "FullyReplicated",  # the bootstrap, the SDK's own input
        "data": "ShardedByS3Key",
    }
    assert preprocess["NetworkConfig"]["EnableInterContainerTrafficEncryption"] is True  # the rows' columns travel
    for name, step in steps.items():  # the others have no use for a second instance
        assert step["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1, name
    (parameter,) = (p for p in definition["Parameters"] if p["Name"] == "ProcessingInstanceCount")
    assert parameter["DefaultValue"] == 4
    arguments = dict(all_steps(as_deployed(definition))["Preprocess"]["Arguments"], ProcessingJobName="at-run-time")
    arguments["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = 4
    assert validation_errors("CreateProcessingJob", arguments) == ""


def test_a_stage_sets_its_hosts_and_needs_one_at_least():
    context = cdk_json_context()
    build = context["platform"]["stages"]["dev"].setdefault("build", {})
    build["training_instances"] = 2
    config = load_config(context)
    assert PipelineSettings.for_stage(config, config.stage("dev")).training_instances == 2
    build["processing_instances"] = 3
    config = load_config(context)
    assert PipelineSettings.for_stage(config, config.stage("dev")).processing_instances == 3
    for key in ("training_instances", "processing_instances"):
        build[key] = 0
        with pytest.raises(
            ConfigError, match=rf"stages\.dev\.build\.{key} in cdk\.json: 0: .* greater than or equal to 1"
        ):
            load_config(context)
        build[key] = 1
