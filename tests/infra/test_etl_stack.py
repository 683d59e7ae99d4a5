"""The Glue ETL in DataStack: job, least-privilege role, security configuration, trigger and schedule."""

from __future__ import annotations

import json

from aws_cdk.assertions import Capture, Match, Template

from ml_code.etl.glue_job import ARGUMENTS

GLUE_RUNTIME_ARGUMENTS = {"JOB_NAME", "JOB_RUN_ID"}  # Glue passes these itself


def job_properties(template: Template) -> dict:
    (job,) = template.find_resources("AWS::Glue::Job").values()
    return job["Properties"]


def etl_policy_statements(template: Template) -> list[dict]:
    (role_id,) = [
        key
        for key, role in template.find_resources("AWS::IAM::Role").items()
        if "glue.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    ]
    policies = [
        policy
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
    ]
    return [statement for policy in policies for statement in policy["Properties"]["PolicyDocument"]["Statement"]]


def test_the_job_is_glue_5_with_bookmarks_logging_and_config_sized_workers(dev):
    properties = job_properties(dev)
    assert properties["Name"] == "mlops-dev-etl"
    assert (properties["GlueVersion"], properties["WorkerType"], properties["NumberOfWorkers"]) == ("5.0", "G.1X", 2)
    assert properties["Command"]["Name"] == "glueetl"
    assert properties["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    arguments = properties["DefaultArguments"]
    assert arguments["--job-bookmark-option"] == "job-bookmark-enable"
    assert arguments["--custom-logGroup-prefix"] == "/aws-glue/jobs/mlops-dev-etl"
    assert arguments["--contract_file"] == "customer-churn.json"
    assert properties["SecurityConfiguration"]["Ref"].startswith("EtlSecurityConfiguration")


# Glue 4.0's continuous logging, which Glue 5.0 no longer reads (its logging page): a group set there stays empty.
GLUE_4_LOGGING_ARGUMENTS = {
    "--enable-continuous-cloudwatch-log",
    "--enable-continuous-log-filter",
    "--continuous-log-logGroup",
    "--continuous-log-logStreamPrefix",
    "--continuous-log-conversionPattern",
}


def test_the_job_logs_where_glue_5_writes_under_the_key_and_a_retention(dev):
    assert not GLUE_4_LOGGING_ARGUMENTS & set(job_properties(dev)["DefaultArguments"])
    key = {"Fn::GetAtt": [next(iter(dev.find_resources("AWS::KMS::Key"))), "Arn"]}
    for kind in ("error", "output"):
        dev.has_resource_properties(
            "AWS::Logs::LogGroup",
            {"LogGroupName": f"/aws-glue/jobs/mlops-dev-etl/{kind}", "KmsKeyId": key, "RetentionInDays": 90},
        )


def test_the_job_passes_every_argument_the_script_resolves(dev):
    given = {name.removeprefix("--") for name in job_properties(dev)["DefaultArguments"]}
    assert set(ARGUMENTS) - GLUE_RUNTIME_ARGUMENTS <= given


def test_the_job_writes_only_under_its_contract_prefixes(dev):
    arguments = job_properties(dev)["DefaultArguments"]
    for name, area in (("--curated_uri", "data"), ("--quarantine_uri", "quarantine"), ("--manifest_uri", "manifests")):
        assert json.dumps(arguments[name]).endswith(f'/{area}/customer-churn/"]]}}')


def test_security_configuration_encrypts_s3_logs_and_bookmarks_with_the_key(dev):
    key_arn = {"Fn::GetAtt": [next(iter(dev.find_resources("AWS::KMS::Key"))), "Arn"]}
    dev.has_resource_properties(
        "AWS::Glue::SecurityConfiguration",
        {
            "Name": "mlops-dev-etl",
            "EncryptionConfiguration": {
                "S3Encryptions": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": key_arn}],
                "CloudWatchEncryption": {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": key_arn},
                "JobBookmarksEncryption": {"JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": key_arn},
            },
        },
    )


def test_the_role_has_no_wildcard_actions(dev):
    actions = [
        a for s in etl_policy_statements(dev) for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert actions and not [action for action in actions if "*" in action]


def test_the_role_reaches_no_other_prefix_of_the_curated_bucket(dev):
    curated_id = next(key for key in dev.find_resources("AWS::S3::Bucket") if key.startswith("Curated"))
    object_grants = []
    for statement in etl_policy_statements(dev):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            text = json.dumps(resource)
            if curated_id in text and "Fn::Join" in text:
                object_grants.append(resource["Fn::Join"][1][1])
    assert sorted(object_grants) == [
        "/data/customer-churn/*",
        "/manifests/customer-churn/*",
        "/quarantine/customer-churn/*",
    ]


def test_the_role_lists_the_curated_bucket_only_where_it_works_and_the_folders_above(dev):
    from infra.constructs.glue_etl_job import listed_prefixes

    curated_id = next(key for key in dev.find_resources("AWS::S3::Bucket") if key.startswith("Curated"))
    listings = {}
    for statement in etl_policy_statements(dev):
        if statement["Action"] == "s3:ListBucket":
            listings["curated" if curated_id in json.dumps(statement["Resource"]) else "raw"] = statement
    assert "Condition" not in listings["raw"]  # the job reads every raw object: listing it whole grants nothing more
    allowed = listings["curated"]["Condition"]["StringLike"]["s3:prefix"]
    assert {"", "data", "data/", "data/customer-churn", "data/customer-churn/*", "manifests/customer-churn/*"} <= set(
        allowed
    )
    assert not [prefix for prefix in allowed if prefix.endswith("*") and prefix.count("/") < 2]  # no area-wide listing
    assert listed_prefixes(["a/b/"]) == ["", "a", "a/", "a/b", "a/b/", "a/b/*"]


def test_the_role_may_add_manifests_but_never_delete_one(dev):
    """The manifests are the ledger of processed files: a run adds its own; only a dead run's outputs are deleted."""
    deletable = []
    for statement in etl_policy_statements(dev):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if "s3:DeleteObject" in actions:
            deletable += [json.dumps(resource) for resource in resources]
    assert deletable and not [resource for resource in deletable if "manifests" in resource]
    assert [resource for resource in deletable if "/quarantine/customer-churn/*" in resource]


def test_the_role_reads_its_secret_and_only_exact_code_objects(dev):
    statements = etl_policy_statements(dev)
    (secret,) = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    assert secret["Resource"]["Ref"].startswith("EtlHashKey")
    assets = [
        r
        for s in statements
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [])
        if "cdk-hnb659fds-assets" in json.dumps(r)
    ]
    assert len(assets) == 3 and all(not json.dumps(r).endswith('/*"]]}') for r in assets)


def test_the_hash_key_is_a_generated_secret_under_the_platform_key(dev):
    dev.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {"GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True}, "KmsKeyId": Match.any_value()},
    )


def test_raw_bucket_sends_events_to_eventbridge(dev):
    raw = next(r for k, r in dev.find_resources("AWS::S3::Bucket").items() if k.startswith("Raw"))
    assert raw["Properties"]["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


def test_object_created_in_raw_reaches_the_queue_of_the_trigger(dev):
    raw_id = next(key for key in dev.find_resources("AWS::S3::Bucket") if key.startswith("Raw"))
    queue = Capture()
    dev.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [{"Ref": raw_id}]},
                    "object": {"key": [{"suffix": ".json"}, {"suffix": ".jsonl"}, {"suffix": ".ndjson"}]},
                },
            },
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [queue, "Arn"]}})],
        },
    )
    assert queue.as_string().startswith("EtlTriggerEvents")


def test_the_queue_is_encrypted_batched_and_has_a_dead_letter_queue(dev):
    dev.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "KmsMasterKeyId": Match.any_value(),
            "RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": 48},
        },
    )
    dev.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"BatchSize": 100, "MaximumBatchingWindowInSeconds": 60, "FunctionResponseTypes": ["ReportBatchItemFailures"]},
    )
    dev.has_resource_properties(
        "AWS::Lambda::Function", {"Environment": {"Variables": {"JOB_NAME": "mlops-dev-etl"}}, "Runtime": "python3.14"}
    )


def test_the_function_may_start_only_this_job(dev):
    dev.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "glue:StartJobRun",
                            "Effect": "Allow",
                            "Resource": Match.object_like(
                                {"Fn::Join": Match.array_with([Match.array_with([":job/mlops-dev-etl"])])}
                            ),
                        }
                    ]
                )
            }
        },
    )


def test_a_stage_with_a_schedule_gets_a_catch_up_rule(dev, prod):
    prod.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "cron(0 3 * * ? *)"})
    assert not dev.find_resources("AWS::Events::Rule", {"Properties": {"ScheduleExpression": Match.any_value()}})


def test_the_job_name_is_an_output_for_the_model_build(dev):
    dev.has_output("EtlJobName", {"Value": "mlops-dev-etl"})
