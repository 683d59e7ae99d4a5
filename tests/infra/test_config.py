"""The config is read once from cdk.json context, validated, and fails by naming the key and the file."""

from __future__ import annotations

import copy

import aws_cdk as cdk
import pytest

from blueprint.config import ConfigError, load_config, selected_stages
from infra.deploying import removal_policy
from infra.platform import build_platform
from tests.infra.synth import cdk_json_context


@pytest.fixture()
def context() -> dict:
    return copy.deepcopy(cdk_json_context())


def test_reads_the_stages_and_settings_of_cdk_json(context):
    config = load_config(context)
    assert config.prefix == "mlops"
    assert config.dataset_contract == "customer-churn"
    assert [stage.name for stage in config.stages] == ["dev", "staging", "prod"]
    prod = config.stage("prod")
    assert (prod.min_instances, prod.max_instances, prod.removal_policy) == (2, 4, "retain")
    assert prod.account is None  # one account by default: the credentials' account at deploy
    assert removal_policy(config.stage("dev")) == cdk.RemovalPolicy.DESTROY
    assert removal_policy(prod) == cdk.RemovalPolicy.RETAIN


def test_every_stage_is_selected_by_default_and_one_with_the_stage_flag(context):
    config = load_config(context)
    assert len(selected_stages(config, context)) == 3
    assert [stage.name for stage in selected_stages(config, {**context, "stage": "prod"})] == ["prod"]


def test_command_line_overrides_become_the_type_of_their_key(context):
    config = load_config(
        {
            **context,
            "platform.prefix": "acme",
            "platform.stages.prod.account": "111122223333",
            "platform.stages.staging.account": "444455556666",  # prod serves staging's models: they must say where
            "platform.stages.staging.region": "eu-west-1",
            "platform.stages.prod.max_instances": "8",
        }
    )
    prod = config.stage("prod")
    assert config.prefix == "acme"
    assert prod.account == "111122223333"  # stays text: account ids can start with 0
    assert prod.max_instances == 8


def test_a_stage_with_its_own_account_and_region_is_deployed_there(context, tmp_path):
    app = cdk.App(
        outdir=str(tmp_path),
        context={
            **context,
            "stage": "prod",
            "platform.stages.prod.account": "111122223333",
            "platform.stages.prod.region": "eu-west-1",
            "platform.stages.staging.account": "444455556666",
            "platform.stages.staging.region": "eu-west-1",
            "platform.stages.staging.data_key_arn": "arn:aws:kms:eu-west-1:444455556666:key/abcd-1234",
        },
    )
    built = build_platform(app)
    stacks = built.stages
    assert list(stacks) == ["prod"]
    assert built.cicd is None  # the pipelines span every stage
    assert (stacks["prod"].data.account, stacks["prod"].data.region) == ("111122223333", "eu-west-1")
    assert stacks["prod"].data.stack_name == "mlops-prod-data"


def test_fails_when_the_stage_is_unknown(context):
    with pytest.raises(ConfigError, match=r"unknown stage 'qa'.*cdk\.json.*\['dev', 'staging', 'prod'\]"):
        selected_stages(load_config(context), {**context, "stage": "qa"})


def test_fails_when_a_key_is_unknown(context):
    context["platform"]["stages"]["prod"]["max_instance"] = 4
    with pytest.raises(ConfigError, match=r"unknown key platform\.stages\.prod\.max_instance in cdk\.json"):
        load_config(context)


def test_fails_when_a_top_level_key_is_unknown(context):
    context["platform"]["prefx"] = "x"
    with pytest.raises(ConfigError, match=r"unknown key platform\.prefx in cdk\.json"):
        load_config(context)


def test_fails_when_a_value_has_the_wrong_type(context):
    context["platform"]["stages"]["prod"]["min_instances"] = "two"
    with pytest.raises(ConfigError, match=r"wrong type for key platform\.stages\.prod\.min_instances in cdk\.json"):
        load_config(context)


def test_fails_when_a_boolean_stands_for_a_number(context):
    context["platform"]["stages"]["dev"]["max_instances"] = True
    with pytest.raises(ConfigError, match=r"wrong type for key platform\.stages\.dev\.max_instances"):
        load_config(context)


def test_fails_when_an_override_has_the_wrong_type(context):
    with pytest.raises(ConfigError, match=r"wrong type for key platform\.stages\.prod\.max_instances"):
        load_config({**context, "platform.stages.prod.max_instances": "many"})


def test_fails_when_a_required_key_is_missing(context):
    del context["platform"]["dataset_contract"]
    with pytest.raises(ConfigError, match=r"missing key platform\.dataset_contract in cdk\.json"):
        load_config(context)


def test_fails_when_the_platform_key_is_missing():
    with pytest.raises(ConfigError, match=r"missing key 'platform' in the context of cdk\.json"):
        load_config({})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("account", "1234", r"platform\.stages\.prod\.account in cdk\.json: '1234' is not a 12-digit"),
        ("region", "Europe", r"platform\.stages\.prod\.region in cdk\.json: 'Europe' is not an AWS region"),
        ("removal_policy", "snapshot", r"removal_policy in cdk\.json: 'snapshot' is not one of"),
        ("min_instances", 9, r"min_instances/max_instances in cdk\.json: need 1 <= min <= max"),
        ("glue_workers", 1, r"glue_workers in cdk\.json: Glue needs at least 2 workers"),
        ("raw_retention_days", 0, r"raw_retention_days in cdk\.json: 0 must be at least 1"),
        ("glue_worker_type", "G.3X", r"glue_worker_type in cdk\.json: 'G.3X' is not one of"),
        ("etl_schedule", "every night", r"etl_schedule in cdk\.json: 'every night' is not an EventBridge schedule"),
        ("drift_threshold", 0.0, r"drift_threshold in cdk\.json: 0\.0 must be in \(0, 1\]"),
        ("alarm_datapoints", 4, r"alarm_datapoints/alarm_evaluation_periods in cdk\.json: need 1 <= datapoints"),
        ("retrain_cooldown_hours", -1.0, r"retrain_cooldown_hours in cdk\.json: -1\.0 must not be negative"),
        ("endpoint_instance_type", "ml.m5d.large", r"'ml\.m5d\.large' has local instance storage"),
        ("endpoint_instance_type", "ml.g4dn.xlarge", r"'ml\.g4dn\.xlarge' has local instance storage"),
        ("endpoint_instance_type", "ml.g5.xlarge", r"'ml\.g5\.xlarge' has local instance storage"),
        ("endpoint_instance_type", "ml.p5.48xlarge", r"'ml\.p5\.48xlarge' has local instance storage"),
        ("endpoint_instance_type", "ml.trn1.2xlarge", r"'ml\.trn1\.2xlarge' has local instance storage"),
        ("capture_percentage", 0, r"capture_percentage in cdk\.json: 0 must be 1-100"),
        ("capture_percentage", 101, r"capture_percentage in cdk\.json: 101 must be 1-100"),
        ("target_invocations_per_instance", 0, r"target_invocations_per_instance in cdk\.json: 0 must be at least 1"),
        ("rollback_latency_ms", 0, r"rollback_latency_ms in cdk\.json: 0 must be at least 1"),
        ("rollout", "blue-green", r"rollout in cdk\.json: 'blue-green' is not one of \['all_at_once', 'canary'"),
        ("rollout_bake_minutes", 61, r"rollout_bake_minutes in cdk\.json: 61 must be 0-60"),
        ("rollout_step_instances", 2, r"a canary step of 2 instance\(s\) must be at least 1 and at most half of"),
        ("min_instances", 1, r"a canary rollout needs min_instances >= 2"),
        ("batch_schedule", "hourly", r"batch_schedule in cdk\.json: 'hourly' is not an EventBridge schedule"),
    ],
)
def test_fails_when_a_stage_value_is_invalid(context, key, value, message):
    context["platform"]["stages"]["prod"][key] = value
    with pytest.raises(ConfigError, match=message):
        load_config(context)


def test_a_linear_rollout_steps_at_least_a_tenth_of_the_largest_fleet(context):
    prod = context["platform"]["stages"]["prod"]
    prod.update(rollout="linear", min_instances=2, max_instances=4, rollout_step_instances=1)
    assert load_config(context).stage("prod").rollout == "linear"
    prod["max_instances"] = 12
    with pytest.raises(ConfigError, match=r"a linear step of 1 instance\(s\) is under 10 % of max_instances \(12\)"):
        load_config(context)


def test_serving_is_off_unless_a_stage_turns_it_on(context):
    config = load_config(context)
    assert [stage.name for stage in config.stages if stage.serving] == ["staging", "prod"]
    del context["platform"]["stages"]["prod"]["serving"]
    with pytest.raises(
        ConfigError, match=r"prod\.monitor in cdk\.json: only a serving stage has an endpoint to monitor"
    ):
        load_config(context)
    del context["platform"]["stages"]["prod"]["monitor"]
    assert not load_config(context).stage("prod").serving


def test_fails_when_prefix_and_stage_are_too_long_for_bucket_names(context):
    with pytest.raises(ConfigError, match=r"together 23 characters, at most 20"):
        load_config({**context, "platform.prefix": "a-very-long-prefix-x"})


def test_fails_when_the_prefix_cannot_name_resources(context):
    with pytest.raises(ConfigError, match=r"platform\.prefix in cdk\.json: 'My_Platform'"):
        load_config({**context, "platform.prefix": "My_Platform"})


def test_the_cicd_section_is_optional_and_defaults_to_an_s3_source_and_the_first_serving_stage(context):
    config = load_config(context)
    assert config.cicd.connection_arn is None and config.cicd.branch == "main"
    assert config.release_stage.name == "staging"
    assert config.tooling_account is None  # the deploying credentials' account, as the first stage's
    chosen = load_config({**context, "platform.cicd.release_stage": "prod", "platform.cicd.notify": "a@example.com"})
    assert chosen.release_stage.name == "prod"
    assert chosen.cicd.notify == ("a@example.com",)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"platform.cicd.release_stage": "qa"}, r"platform\.cicd\.release_stage in cdk\.json: 'qa' is not a stage"),
        ({"platform.cicd.connection_arn": "arn:aws:codeconnections:eu-west-1:111122223333:connection/x"},
         r"platform\.cicd\.connection_arn and platform\.cicd\.repository in cdk\.json: give both"),
        ({"platform.cicd.connection_arn": "arn:aws:codecommit:eu-west-1:111122223333:repo",
          "platform.cicd.repository": "acme/platform"}, r"is not a CodeConnections connection ARN"),
        ({"platform.cicd.notify": "not-an-address"}, r"platform\.cicd\.notify in cdk\.json: 'not-an-address'"),
        ({"platform.cicd.smoke_test_latency_ms": "0"}, r"smoke_test_latency_ms in cdk\.json: 0 must be at least 1"),
        ({"platform.cicd.branchs": "main"}, r"unknown key platform\.cicd\.branchs in cdk\.json"),
        ({"platform.stages.prod.account": "111122223333"},
         r"serving stages \['prod'\] name their accounts, so the release stage 'staging'.* must name its account and "
         r"region too"),
    ],
)  # fmt: skip
def test_fails_when_the_cicd_settings_are_wrong(context, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config({**context, **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"platform.stages.dev.tuning_trials": "4", "platform.stages.dev.tuning_parallel": "8"},
            r"1 <= parallel <= trials",
        ),
        ({"platform.stages.dev.tuning_trials": "-1"}, r"need trials >= 0"),
        ({"platform.stages.dev.tuning_strategy": "Genetic"}, r"tuning_strategy in cdk\.json: 'Genetic' is not one of"),
    ],
)
def test_fails_when_the_tuning_settings_are_wrong(context, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config({**context, **overrides})


def sagemaker_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def test_the_rollout_bounds_are_the_current_apis():
    from blueprint.config import MAX_ROLLOUT_BAKE_MINUTES, MAX_UPDATE_SECONDS, MIN_UPDATE_SECONDS

    policy = sagemaker_model().shape_for("BlueGreenUpdatePolicy").members
    timeout = policy["MaximumExecutionTimeoutInSeconds"].metadata
    assert (MIN_UPDATE_SECONDS, MAX_UPDATE_SECONDS) == (timeout["min"], timeout["max"])
    wait = sagemaker_model().shape_for("TrafficRoutingConfig").members["WaitIntervalInSeconds"].metadata
    assert MAX_ROLLOUT_BAKE_MINUTES * 60 == wait["max"] == policy["TerminationWaitInSeconds"].metadata["max"]


def test_a_long_rollout_within_the_apis_limit_is_deployed_as_configured(context, tmp_path):
    """4 linear shifts of 60 min and 30 min to provision: 16,200 s, over the old cap of 14,400, and not clamped."""
    from aws_cdk.assertions import Template

    prod = context["platform"]["stages"]["prod"]
    prod.update(rollout="linear", rollout_step_instances=1, rollout_bake_minutes=60)
    app = cdk.App(outdir=str(tmp_path), context={**context, "stage": "prod", "aws:cdk:bundling-stacks": []})
    built = build_platform(app)
    (endpoint,) = Template.from_stack(built.stages["prod"].serving).find_resources("AWS::SageMaker::Endpoint").values()
    policy = endpoint["Properties"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["MaximumExecutionTimeoutInSeconds"] == 1800 + 4 * 3600


def test_fails_when_a_rollout_would_outlast_the_apis_limit(context):
    prod = context["platform"]["stages"]["prod"]
    prod.update(rollout="linear", rollout_step_instances=1, max_instances=8, min_instances=2, rollout_bake_minutes=60)
    with pytest.raises(ConfigError, match=r"a linear rollout of 8 shift\(s\) baking 60 min each.*takes 30600 s, over "):
        load_config(context)


def test_the_local_storage_families_are_sagemaker_endpoint_families():
    from blueprint.config import LOCAL_STORAGE_FAMILIES, instance_family

    served = {instance_family(name) for name in sagemaker_model().shape_for("ProductionVariantInstanceType").enum}
    assert LOCAL_STORAGE_FAMILIES <= served, sorted(LOCAL_STORAGE_FAMILIES - served)  # no typo, no retired family
    assert {"g5", "g6", "p5", "trn1", "m5d", "g4dn"} <= LOCAL_STORAGE_FAMILIES


def test_fails_when_a_sagemaker_name_would_be_over_63_characters(context):
    """A 40-character contract name passes the contract's own rule, but `mlops-staging-<contract>-monitoring` would be
    65 characters: refused at config load, with the budget."""
    context["platform"]["dataset_contract"] = "a" * 40
    with pytest.raises(
        ConfigError,
        match=r"platform\.dataset_contract in cdk\.json: the monitoring pipeline of stage '\w+', "
        r"'mlops-\w+-a{40}-[a-z-]+', has \d+ characters, over SageMaker's 63: .* a contract name may "
        r"have \d+ characters \('a{40}' has 40\)",
    ):
        load_config(context)


@pytest.mark.parametrize(
    "arn",
    [
        "alias/mlops-staging-data",
        "arn:aws:kms:eu-west-1:444455556666:alias/x",
        "arn:aws:kms:us-east-1:444455556666:key/a",
    ],
)
def test_fails_when_a_data_key_arn_is_no_key_of_the_stages_account_and_region(context, arn):
    staging = context["platform"]["stages"]["staging"]
    staging.update(account="444455556666", region="eu-west-1", data_key_arn=arn)
    with pytest.raises(ConfigError, match=r"staging\.data_key_arn in cdk\.json: .* is not the ARN of a KMS key in the"):
        load_config(context)
