"""The config is read once from cdk.json context, validated, and fails by naming the key and the file."""

from __future__ import annotations

import copy
import re

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
    assert list(config.stages) == ["dev", "staging", "prod"]
    prod = config.stage("prod")
    assert (prod.serving.min_instances, prod.serving.max_instances, prod.removal_policy) == (2, 4, "retain")
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
            "platform.stages.prod.serving.max_instances": "8",
        }
    )
    prod = config.stage("prod")
    assert config.prefix == "acme"
    assert prod.account == "111122223333"  # stays text: account ids can start with 0
    assert prod.serving.max_instances == 8


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


def put(context: dict, path: str, value) -> None:
    """Set the key at `path` (dotted, under `platform`) in cdk.json's context, making its sections."""
    *parents, last = path.split(".")
    node = context["platform"]
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def test_fails_when_a_key_is_unknown(context):
    put(context, "stages.prod.serving.max_instance", 4)
    with pytest.raises(
        ConfigError,
        match=r"unknown key platform\.stages\.prod\.serving\.max_instance in cdk\.json; known keys: .*'max_instances'",
    ):
        load_config(context)


@pytest.mark.parametrize(
    ("key", "moved"),
    [("min_instances", "serving.min_instances"), ("glue_workers", "etl.workers"), ("etl_schedule", "etl.schedule")],
)
def test_a_key_of_the_flat_shape_before_sections_says_where_it_went(context, key, moved):
    put(context, f"stages.prod.{key}", 2)
    with pytest.raises(
        ConfigError,
        match=rf"unknown key platform\.stages\.prod\.{key} in cdk\.json \(a key of the flat shape before sections: "
        rf"now {re.escape(moved)}\); known keys",
    ):
        load_config(context)


def test_fails_when_a_top_level_key_is_unknown(context):
    context["platform"]["prefx"] = "x"
    with pytest.raises(ConfigError, match=r"unknown key platform\.prefx in cdk\.json"):
        load_config(context)


def test_fails_when_a_value_has_the_wrong_type(context):
    put(context, "stages.prod.serving.min_instances", "two")
    with pytest.raises(
        ConfigError, match=r"wrong type for key platform\.stages\.prod\.serving\.min_instances in cdk\.json: .*'two'"
    ):
        load_config(context)


def test_fails_when_a_boolean_stands_for_a_number(context):
    put(context, "stages.dev.serving.max_instances", True)
    with pytest.raises(ConfigError, match=r"wrong type for key platform\.stages\.dev\.serving\.max_instances"):
        load_config(context)


def test_fails_when_a_section_is_not_an_object(context):
    put(context, "stages.prod.serving", True)
    with pytest.raises(ConfigError, match=r"wrong type for key platform\.stages\.prod\.serving in cdk\.json"):
        load_config(context)


def test_fails_when_an_override_has_the_wrong_type(context):
    with pytest.raises(ConfigError, match=r"wrong type for key platform\.stages\.prod\.serving\.max_instances"):
        load_config({**context, "platform.stages.prod.serving.max_instances": "many"})


def test_fails_when_a_required_key_is_missing(context):
    del context["platform"]["dataset_contract"]
    with pytest.raises(ConfigError, match=r"missing key platform\.dataset_contract in cdk\.json"):
        load_config(context)


def test_fails_when_the_platform_key_is_missing():
    with pytest.raises(ConfigError, match=r"missing key 'platform' in the context of cdk\.json"):
        load_config({})


def test_every_problem_is_named_at_once(context):
    put(context, "stages.prod.etl.workers", 1)
    put(context, "stages.dev.build.spot_training", "yes")
    with pytest.raises(
        ConfigError, match=r"2 problems in cdk\.json:\n  .*dev\.build\.spot_training.*\n  .*prod\.etl\.workers"
    ):
        load_config(context)


def test_a_stage_is_named_by_its_key_only(context):
    put(context, "stages.prod.name", "production")
    with pytest.raises(ConfigError, match=r"platform\.stages\.prod\.name in cdk\.json: is not a key"):
        load_config(context)


# One invalid value per section (and the stage's own keys): each error names the key, cdk.json and the fix.
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("account", "1234", r"platform\.stages\.prod\.account in cdk\.json: '1234' is not a 12-digit"),
        ("region", "Europe", r"platform\.stages\.prod\.region in cdk\.json: 'Europe' is not an AWS region"),
        (
            "removal_policy",
            "snapshot",
            r"removal_policy in cdk\.json: 'snapshot': Input should be 'retain' or 'destroy'",
        ),
        ("notify", ["ops"], r"prod\.notify\[0\] in cdk\.json: 'ops' is not an e-mail address"),
        ("etl.workers", 1, r"etl\.workers in cdk\.json: 1: Input should be greater than or equal to 2 \(Workers"),
        ("etl.raw_retention_days", 0, r"etl\.raw_retention_days in cdk\.json: 0: .* greater than or equal to 1 \(The"),
        ("etl.worker_type", "G.3X", r"etl\.worker_type in cdk\.json: 'G.3X': Input should be 'G\.1X', 'G\.2X'"),
        ("etl.schedule", "every night", r"etl\.schedule in cdk\.json: 'every night' is not an EventBridge schedule"),
        ("build.training_instance_type", "m5.xlarge", r"build\.training_instance_type in cdk\.json: .* SageMaker inst"),
        (
            "build.processing_instances",
            0,
            r"build\.processing_instances in cdk\.json: 0: .* greater than or equal to 1",
        ),
        (
            "build.champion_tolerance",
            1.0,
            r"champion_tolerance in cdk\.json: 1\.0: Input should be less than 1 \(The largest shortfall against the "
            r"approved model that still passes the gate\)$",
        ),
        ("tuning.trials", -1, r"tuning\.trials in cdk\.json: -1: Input should be greater than or equal to 0"),
        ("tuning.strategy", "Genetic", r"tuning\.strategy in cdk\.json: 'Genetic': Input should be 'Bayesian'"),
        ("serving.min_instances", 9, r"serving\.min_instances in cdk\.json: 9 is more than max_instances \(4\)"),
        (
            "serving.instance_type",
            5,
            r"got 5 \(Instance type of the endpoint; no family with .* \(`ml\.m5d`, `ml\.g4dn`",
        ),
        ("serving.instance_type", "ml.m5d.large", r"'ml\.m5d\.large' has local instance storage"),
        ("serving.instance_type", "ml.g4dn.xlarge", r"'ml\.g4dn\.xlarge' has local instance storage"),
        ("serving.instance_type", "ml.g5.xlarge", r"'ml\.g5\.xlarge' has local instance storage"),
        ("serving.instance_type", "ml.p5.48xlarge", r"'ml\.p5\.48xlarge' has local instance storage"),
        ("serving.instance_type", "ml.trn1.2xlarge", r"'ml\.trn1\.2xlarge' has local instance storage"),
        ("serving.capture_percentage", 0, r"capture_percentage in cdk\.json: 0: .* greater than or equal to 1 \(Share"),
        (
            "serving.capture_percentage",
            101,
            r"capture_percentage in cdk\.json: 101: Input should be less than or equal",
        ),
        ("serving.target_invocations_per_instance", 0, r"target_invocations_per_instance in cdk\.json: 0: Input"),
        ("serving.batch_schedule", "hourly", r"batch_schedule in cdk\.json: 'hourly' is not an EventBridge schedule"),
        ("rollout.rollback_latency_ms", 0, r"rollout\.rollback_latency_ms in cdk\.json: 0: Input should be greater"),
        ("rollout.mode", "blue-green", r"rollout\.mode in cdk\.json: 'blue-green': Input should be 'all_at_once'"),
        (
            "rollout.bake_minutes",
            61,
            r"rollout\.bake_minutes in cdk\.json: 61: Input should be less than or equal to 60",
        ),
        ("rollout.step_instances", 2, r"rollout\.step_instances in cdk\.json: a canary step of 2 instance\(s\) must "),
        ("serving.min_instances", 1, r"a canary rollout needs min_instances >= 2"),
        ("monitoring.drift_threshold", 0.0, r"drift_threshold in cdk\.json: 0\.0: Input should be greater than 0"),
        ("monitoring.alarm_datapoints", 4, r"alarm_datapoints in cdk\.json: 4 is more than alarm_evaluation_periods"),
        ("monitoring.retrain_cooldown_hours", -1.0, r"retrain_cooldown_hours in cdk\.json: -1\.0: Input should be"),
        ("monitoring.schedule", "rate(1 hour)", r"monitoring\.schedule in cdk\.json: 'rate\(1 hour\)' is not a cron"),
        ("experiments.size", "Huge", r"experiments\.size in cdk\.json: 'Huge': Input should be 'Small', 'Medium' or"),
        ("experiments.enabled", "no", r"wrong type for key platform\.stages\.prod\.experiments\.enabled in cdk\.json"),
        ("monitoring.window_hours", 25, r"window_hours in cdk\.json: 25: Input should be less than or equal to 24"),
    ],
)
def test_fails_when_a_stage_value_is_invalid(context, key, value, message):
    put(context, f"stages.prod.{key}", value)
    with pytest.raises(ConfigError, match=message):
        load_config(context)


def test_a_linear_rollout_steps_at_least_a_tenth_of_the_largest_fleet(context):
    prod = context["platform"]["stages"]["prod"]
    prod["serving"].update(min_instances=2, max_instances=4)
    prod["rollout"].update(mode="linear", step_instances=1)
    assert load_config(context).stage("prod").rollout.mode == "linear"
    prod["serving"]["max_instances"] = 12
    with pytest.raises(
        ConfigError, match=r"a linear step of 1 instance\(s\) is under 10 % of serving\.max_instances \(12\)"
    ):
        load_config(context)


def test_serving_is_off_unless_a_stage_turns_it_on(context):
    config = load_config(context)
    assert [stage.name for stage in config.stages.values() if stage.serving.enabled] == ["staging", "prod"]
    del context["platform"]["stages"]["prod"]["serving"]["enabled"]
    with pytest.raises(
        ConfigError,
        match=r"platform\.stages\.prod\.monitoring\.enabled in cdk\.json: only a serving stage \(serving\.enabled\)",
    ):
        load_config(context)
    del context["platform"]["stages"]["prod"]["monitoring"]
    assert not load_config(context).stage("prod").serving.enabled


def test_fails_when_prefix_and_stage_are_too_long_for_bucket_names(context):
    with pytest.raises(ConfigError, match=r"together 23 characters, at most 20"):
        load_config({**context, "platform.prefix": "a-very-long-prefix-x"})


def test_fails_when_the_prefix_cannot_name_resources(context):
    with pytest.raises(ConfigError, match=r"platform\.prefix in cdk\.json: 'My_Platform' is not 2-21 characters"):
        load_config({**context, "platform.prefix": "My_Platform"})


def test_fails_when_a_stage_name_cannot_name_resources(context):
    context["platform"]["stages"]["QA"] = {}
    with pytest.raises(ConfigError, match=r"platform\.stages\.QA in cdk\.json: 'QA' is not 2-21 characters"):
        load_config(context)


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
         r"platform\.cicd\.connection_arn/repository in cdk\.json: give both"),
        ({"platform.cicd.connection_arn": "arn:aws:codecommit:eu-west-1:111122223333:repo",
          "platform.cicd.repository": "acme/platform"}, r"is not a CodeConnections connection ARN"),
        ({"platform.cicd.notify": "not-an-address"}, r"platform\.cicd\.notify\[0\] in cdk\.json: 'not-an-address'"),
        ({"platform.cicd.smoke_test_latency_ms": "0"}, r"smoke_test_latency_ms in cdk\.json: 0: Input should"),
        ({"platform.cicd.branchs": "main"}, r"unknown key platform\.cicd\.branchs in cdk\.json"),
        ({"platform.stages.prod.account": "111122223333"},
         r"serving stages \['prod'\] name their accounts, so the release stage 'staging'.* must name its account and "
         r"region too"),
    ],
)  # fmt: skip
def test_fails_when_the_cicd_settings_are_wrong(context, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config({**context, **overrides})


def test_fails_when_tuning_runs_more_jobs_at_a_time_than_trials(context):
    overrides = {"platform.stages.dev.tuning.trials": "4", "platform.stages.dev.tuning.parallel": "8"}
    with pytest.raises(ConfigError, match=r"tuning\.parallel in cdk\.json: 8 jobs at a time is more than the 4 trials"):
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

    context["platform"]["stages"]["prod"]["rollout"].update(mode="linear", step_instances=1, bake_minutes=60)
    app = cdk.App(outdir=str(tmp_path), context={**context, "stage": "prod", "aws:cdk:bundling-stacks": []})
    built = build_platform(app)
    (endpoint,) = Template.from_stack(built.stages["prod"].serving).find_resources("AWS::SageMaker::Endpoint").values()
    policy = endpoint["Properties"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["MaximumExecutionTimeoutInSeconds"] == 1800 + 4 * 3600


def test_fails_when_a_rollout_would_outlast_the_apis_limit(context):
    prod = context["platform"]["stages"]["prod"]
    prod["serving"].update(min_instances=2, max_instances=8)
    prod["rollout"].update(mode="linear", step_instances=1, bake_minutes=60)
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


def test_every_sagemaker_instance_type_is_one_the_config_takes():
    """The config's instance-type pattern against every type SageMaker's API lists for endpoints, processing and
    training: none refused."""
    from pydantic import TypeAdapter

    from blueprint.config import InstanceType

    takes = TypeAdapter(InstanceType)
    shapes = ("ProductionVariantInstanceType", "ProcessingInstanceType", "TrainingInstanceType")
    for name in sorted({name for shape in shapes for name in sagemaker_model().shape_for(shape).enum}):
        assert takes.validate_python(name) == name
