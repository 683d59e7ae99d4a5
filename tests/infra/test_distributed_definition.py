"""A stage with several training hosts (`training_instances`): the train channel is sharded by S3 key and
preprocessing writes one file of the train split per host; with one host the golden definitions hold."""

from __future__ import annotations

import dataclasses

import pytest

from infra.config import ConfigError, load_config
from infra.pipeline.definition import build_definition
from infra.pipeline.settings import PipelineSettings
from tests.infra.request_shapes import validation_errors
from tests.infra.synth import cdk_json_context
from tests.infra.test_pipeline_definition import CHURN, SETTINGS, all_steps, as_deployed

COUNT = {"Get": "Parameters.TrainingInstanceCount"}


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


def test_a_stage_sets_its_training_hosts_and_needs_one_at_least():
    context = cdk_json_context()
    context["platform"]["stages"]["dev"]["training_instances"] = 2
    config = load_config(context)
    assert PipelineSettings.for_stage(config, config.stage("dev")).training_instances == 2
    context["platform"]["stages"]["dev"]["training_instances"] = 0
    with pytest.raises(ConfigError, match=r"stages\.dev\.training_instances .* must be at least 1"):
        load_config(context)
