"""CicdStack: the commit pipeline (test, synth, self-update, deploy stage by stage, start training) and the deploy
pipeline (an approval of the release group only; staging, smoke test, manual approval, prod); the stages' roles
that the builds assume; notifications; nothing of CodeCommit."""

from __future__ import annotations

import json

import boto3
import pytest
from aws_cdk.assertions import Match, Template
from moto import mock_aws

from infra.platform import build_platform
from tests.infra.synth import new_app, role_statements

RELEASE_GROUP = "mlops-staging-customer-churn"  # cdk.json: staging is the first serving stage
CONNECTION = "arn:aws:codeconnections:eu-west-1:999999999999:connection/abc-123"
TOOLING, STAGING, PROD = "999999999999", "111111111111", "222222222222"
STAGING_KEY = f"arn:aws:kms:eu-west-1:{STAGING}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def cicd(platform) -> Template:
    return platform.template(platform.cicd)


def pipeline(template: Template, name: str) -> dict:
    (found,) = [
        resource["Properties"]
        for resource in template.find_resources("AWS::CodePipeline::Pipeline").values()
        if resource["Properties"]["Name"] == name
    ]
    return found


def stages(properties: dict) -> list[tuple[str, list[tuple[str, str, int]]]]:
    return [
        (stage["Name"], [(a["Name"], a["ActionTypeId"]["Provider"], a["RunOrder"]) for a in stage["Actions"]])
        for stage in properties["Stages"]
    ]


def action(properties: dict, stage_name: str, action_name: str) -> dict:
    (stage,) = [stage for stage in properties["Stages"] if stage["Name"] == stage_name]
    (found,) = [a for a in stage["Actions"] if a["Name"] == action_name]
    return found


def text(value: str | dict) -> str:
    """A template string; in an Fn::Join of text and references, each reference or attribute reads as `<Ref>`."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return separator.join(part if isinstance(part, str) else f"<{next(iter(part))}>" for part in parts)


def environment(found: dict) -> dict[str, str]:
    """An action's environment variables."""
    return {v["name"]: v["value"] for v in json.loads(text(found["Configuration"]["EnvironmentVariables"]))}


def build_spec(template: Template, found: dict) -> dict:
    project_id = found["Configuration"]["ProjectName"]["Ref"]
    return json.loads(text(template.to_json()["Resources"][project_id]["Properties"]["Source"]["BuildSpec"]))


def commands(template: Template, found: dict) -> str:
    return "\n".join(build_spec(template, found)["phases"]["build"]["commands"])


def approval_rule(template: Template) -> dict:
    """The rule whose target is the deploy pipeline."""
    (deploy_id,) = [
        logical_id
        for logical_id, resource in template.find_resources("AWS::CodePipeline::Pipeline").items()
        if resource["Properties"]["Name"] == "mlops-deploy"
    ]
    (rule,) = [
        resource["Properties"]
        for resource in template.find_resources("AWS::Events::Rule").values()
        if deploy_id in json.dumps(resource["Properties"]["Targets"])
    ]
    return rule


def package_event(status: str, group: str = RELEASE_GROUP) -> dict:
    return {
        "Source": "aws.sagemaker",
        "DetailType": "SageMaker Model Package State Change",
        "Detail": json.dumps(
            {
                "ModelPackageGroupName": group,
                "ModelPackageArn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/3",
                "ModelApprovalStatus": status,
            }
        ),
    }


def test_only_an_approval_of_the_release_group_starts_the_deploy_pipeline(cicd):
    rule = approval_rule(cicd)
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [RELEASE_GROUP], "ModelApprovalStatus": ["Approved"]},
    }
    # EventBridge's own matching (moto's): registration and rejection start nothing, nor another group's approval
    with mock_aws():
        events, sqs = boto3.client("events"), boto3.client("sqs")
        queue = sqs.create_queue(QueueName="deploys")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="deploy", EventPattern=json.dumps(rule["EventPattern"]))
        events.put_targets(Rule="deploy", Targets=[{"Id": "queue", "Arn": arn}])
        events.put_events(
            Entries=[
                package_event("PendingManualApproval"),
                package_event("Rejected"),
                package_event("Approved", group="mlops-prod-customer-churn"),
                package_event("Approved", group="mlops-dev-customer-churn"),
                package_event("Approved"),
            ]
        )
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["detail"]["ModelApprovalStatus"] for m in messages] == ["Approved"]
    assert json.loads(messages[0]["Body"])["detail"]["ModelPackageGroupName"] == RELEASE_GROUP


def test_the_deploy_pipeline_goes_staging_smoke_test_approval_prod(cicd):
    deploy = pipeline(cicd, "mlops-deploy")
    assert stages(deploy) == [
        ("Source", [("Source", "S3", 1)]),
        ("Prepare", [("Synth", "CodeBuild", 1), ("FindRelease", "CodeBuild", 1)]),
        ("Deploy-staging", [("Deploy", "CodeBuild", 1), ("SmokeTest", "CodeBuild", 2)]),
        ("Approve-prod", [("Approve", "Manual", 1)]),
        ("Deploy-prod", [("Deploy", "CodeBuild", 1), ("SmokeTest", "CodeBuild", 2)]),
    ]
    # the package found at run time is the one both stages serve
    find = action(deploy, "Prepare", "FindRelease")
    assert environment(find)["GROUP"] == RELEASE_GROUP
    assert "python -m infra.codebuild.release" in commands(cicd, find)
    assert build_spec(cicd, find)["env"]["exported-variables"] == ["MODEL_PACKAGE_ARN"]
    for stage in ("staging", "prod"):
        deployed = environment(action(deploy, f"Deploy-{stage}", "Deploy"))
        assert deployed["STACKS"] == f"{stage.capitalize()}Serving"
        assert deployed["CDK_ARGUMENTS"] == "--parameters ModelPackageArn=#{Release.MODEL_PACKAGE_ARN}"
        smoke = action(deploy, f"Deploy-{stage}", "SmokeTest")
        assert environment(smoke)["ENDPOINT"] == f"mlops-{stage}-customer-churn"
        assert environment(smoke)["MAX_LATENCY_MS"] == "1000"
        assert "python -m infra.codebuild.smoke_test --endpoint" in commands(cicd, smoke)
        assert [artifact["Name"] for artifact in smoke["InputArtifacts"]] == ["Source", "Release"]
    approve = action(deploy, "Approve-prod", "Approve")
    assert "#{Release.MODEL_PACKAGE_ARN}" in approve["Configuration"]["CustomData"]
    assert approve["Configuration"]["NotificationArn"] == {"Ref": next(iter(cicd.find_resources("AWS::SNS::Topic")))}


def test_the_commit_pipeline_tests_synthesizes_updates_itself_deploys_and_starts_training(cicd):
    commit = pipeline(cicd, "mlops-commit")
    assert commit["RestartExecutionOnUpdate"] is True  # a self-update restarts the run with the new definition
    assert stages(commit) == [
        ("Source", [("Source", "S3", 1)]),
        ("Build", [("Test", "CodeBuild", 1), ("Synth", "CodeBuild", 1)]),
        ("UpdatePipeline", [("SelfMutate", "CodeBuild", 1)]),
        ("Deploy-dev", [("Deploy", "CodeBuild", 1)]),
        ("Deploy-staging", [("Deploy", "CodeBuild", 1), ("StartTraining", "CodeBuild", 2)]),
        ("Deploy-prod", [("Deploy", "CodeBuild", 1)]),
    ]
    test = action(commit, "Build", "Test")
    assert commands(cicd, test) == "make test REPORTS=reports"
    (report_group,) = build_spec(cicd, test)["reports"]
    assert build_spec(cicd, test)["reports"][report_group]["file-format"] == "JUNITXML"
    cicd.has_resource("AWS::CodeBuild::ReportGroup", {"DeletionPolicy": "Retain"})
    assert commands(cicd, action(commit, "Build", "Synth")) == "make synth"
    assert environment(action(commit, "UpdatePipeline", "SelfMutate"))["STACKS"] == "Cicd"
    for stage in ("dev", "staging", "prod"):
        deploy = action(commit, f"Deploy-{stage}", "Deploy")
        expected = " ".join(f"{stage.capitalize()}{component}" for component in ("Data", "ModelBuild", "Monitoring"))
        assert environment(deploy)["STACKS"] == expected
        assert 'npx cdk deploy --app "$CODEBUILD_SRC_DIR_CloudAssembly"' in commands(cicd, deploy)
    start = action(commit, "Deploy-staging", "StartTraining")
    assert environment(start)["PIPELINE"] == "mlops-staging-model-build"
    assert '--pipeline-parameters Name=GitCommit,Value="$COMMIT"' in commands(cicd, start)
    assert "cat SOURCE_COMMIT" in commands(cicd, start)  # the S3 source's zip names its commit


def test_the_builds_and_artifacts_are_encrypted_and_nothing_is_codecommit(platform, cicd):
    key = {"Fn::GetAtt": [next(iter(cicd.find_resources("AWS::KMS::Key"))), "Arn"]}
    projects = cicd.find_resources("AWS::CodeBuild::Project").values()
    assert len(projects) == 6
    assert all(project["Properties"]["EncryptionKey"] == key for project in projects)
    assert all(not project["Properties"]["Environment"].get("PrivilegedMode") for project in projects)
    cicd.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": key})
    for bucket in cicd.find_resources("AWS::S3::Bucket").values():
        encryption = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("aws:kms", "AES256")  # logs: SSE-S3
    for name in ("mlops-commit", "mlops-deploy"):
        assert pipeline(cicd, name)["ArtifactStore"]["EncryptionKey"]["Id"] == key
    for stack in platform.assembly.stacks:
        text = json.dumps(stack.template)
        assert "AWS::CodeCommit" not in text and '"Provider": "CodeCommit"' not in text, stack.stack_name


def test_each_build_may_act_in_the_stages_only_through_its_own_role_there(platform, cicd):
    def assumable(role_prefix: str) -> list[str]:
        return [
            json.dumps(statement["Resource"])
            for statement in role_statements(cicd, role_prefix)
            if statement["Action"] == "sts:AssumeRole"
        ]

    (start,) = assumable("BuildsStartTrainingRole")
    assert start.endswith(':role/mlops-staging-start-training"]]}')
    (release,) = assumable("BuildsReleaseRole")
    assert release.endswith(':role/mlops-staging-release"]]}')
    (smoke,) = assumable("BuildsSmokeTestRole")
    assert "mlops-staging-smoke-test" in smoke and "mlops-prod-smoke-test" in smoke
    (deploy,) = assumable("BuildsDeployRole")
    assert ":role/cdk-hnb659fds-*-role-" in deploy
    assert not assumable("BuildsTestRole") and not assumable("BuildsSynthRole")

    # the stages' side: each role trusts one build role, and may do one thing
    serving = platform.template(platform.stacks["prod"].serving)
    (smoke_role,) = [
        r["Properties"]
        for r in serving.find_resources("AWS::IAM::Role").values()
        if r["Properties"].get("RoleName") == "mlops-prod-smoke-test"
    ]
    (trust,) = smoke_role["AssumeRolePolicyDocument"]["Statement"]
    assert json.dumps(trust["Condition"]["ArnEquals"]["aws:PrincipalArn"]).endswith(':role/mlops-cicd-smoke-test"]]}')
    (invoke,) = role_statements(serving, "SmokeTestRole")
    assert invoke["Action"] == "sagemaker:InvokeEndpoint"
    assert json.dumps(invoke["Resource"]).endswith(':endpoint/mlops-prod-customer-churn"]]}')

    staging = platform.template(platform.stacks["staging"].model_build)
    (start_training,) = role_statements(staging, "StartTrainingRole")
    assert start_training["Action"] == "sagemaker:StartPipelineExecution"
    release_actions = {json.dumps(s["Action"]) for s in role_statements(staging, "ReleaseRole")}
    assert '"sagemaker:ListModelPackages"' in release_actions and '"s3:GetObject"' in release_actions
    for other in ("dev", "prod"):  # only the release stage serves the pipelines
        template = platform.template(platform.stacks[other].model_build)
        assert not [k for k in template.find_resources("AWS::IAM::Role") if k.startswith(("StartTraining", "Release"))]


def test_rejections_approvals_waiting_and_failed_runs_reach_the_topic(cicd):
    rules = [r["Properties"] for r in cicd.find_resources("AWS::Events::Rule").values()]
    topic = {"Ref": next(iter(cicd.find_resources("AWS::SNS::Topic")))}
    (rejected,) = [r for r in rules if r["EventPattern"].get("detail", {}).get("ModelApprovalStatus") == ["Rejected"]]
    assert rejected["Targets"][0]["Arn"] == topic
    assert "was rejected" in json.dumps(rejected["Targets"][0]["InputTransformer"])
    (failed,) = [r for r in rules if r["EventPattern"]["source"] == ["aws.codepipeline"]]
    assert failed["EventPattern"]["detail"]["state"] == ["FAILED"]
    assert len(failed["EventPattern"]["detail"]["pipeline"]) == 2
    assert failed["Targets"][0]["Arn"] == topic


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory) -> dict[str, Template]:
    """The app with a git connection, a tooling account, and staging and prod in accounts of their own."""
    outdir = tmp_path_factory.mktemp("elsewhere")
    app = new_app(
        outdir,
        **{
            "platform.cicd.connection_arn": CONNECTION,
            "platform.cicd.repository": "acme/mlops-platform",
            "platform.cicd.branch": "release",
            "platform.cicd.account": TOOLING,
            "platform.cicd.region": "eu-west-1",
            "platform.cicd.notify": "mlops@example.com,approver@example.com",
            "platform.stages.staging.account": STAGING,
            "platform.stages.staging.region": "eu-west-1",
            "platform.stages.staging.data_key_arn": STAGING_KEY,
            "platform.stages.prod.account": PROD,
            "platform.stages.prod.region": "eu-west-1",
        },
    )
    built = build_platform(app)
    app.synth()  # cdk-nag and CDK's validation pass with this config too
    return {
        "cicd": Template.from_stack(built.cicd),
        "staging_build": Template.from_stack(built.stages["staging"].model_build),
        "staging_data": Template.from_stack(built.stages["staging"].data),
        "staging_monitoring": Template.from_stack(built.stages["staging"].monitoring),
        "prod_monitoring": Template.from_stack(built.stages["prod"].monitoring),
        "prod_serving": Template.from_stack(built.stages["prod"].serving),
    }


def test_a_git_connection_is_the_source_a_push_starts_the_commit_pipeline_only(elsewhere):
    cicd = elsewhere["cicd"]
    commit, deploy = pipeline(cicd, "mlops-commit"), pipeline(cicd, "mlops-deploy")
    for properties, pushes in ((commit, True), (deploy, False)):
        source = action(properties, "Source", "Source")
        assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
        assert source["Configuration"]["ConnectionArn"] == CONNECTION
        assert source["Configuration"]["FullRepositoryId"] == "acme/mlops-platform"
        assert source["Configuration"]["BranchName"] == "release"
        assert source["Configuration"].get("DetectChanges", True) is pushes
    assert environment(action(commit, "Deploy-staging", "StartTraining"))["SOURCE_COMMIT"] == "#{Source.CommitId}"
    assert not cicd.find_resources(
        "AWS::S3::Bucket", {"Properties": {"BucketName": Match.string_like_regexp("source")}}
    )
    emails = [t["Properties"]["Endpoint"] for t in cicd.find_resources("AWS::SNS::Subscription").values()]
    assert sorted(emails) == ["approver@example.com", "mlops@example.com"]


def connection_actions(template: Template, properties: dict, connection: str) -> set[str]:
    """What the pipeline's source action may do on `connection`."""
    role = action(properties, "Source", "Source")["RoleArn"]["Fn::GetAtt"][0]
    granted = set()
    for statement in role_statements(template, role):
        if statement["Resource"] == connection:
            granted |= {statement["Action"]} if isinstance(statement["Action"], str) else set(statement["Action"])
    return granted


def test_the_source_action_uses_the_connection_with_its_arns_own_iam_prefix(elsewhere):
    cicd = elsewhere["cicd"]
    for name in ("mlops-commit", "mlops-deploy"):
        granted = connection_actions(cicd, pipeline(cicd, name), CONNECTION)
        assert "codeconnections:UseConnection" in granted, name  # a connection made since July 2024


def test_an_older_codestar_connection_gets_its_own_prefix():
    import aws_cdk as cdk
    from aws_cdk import aws_codepipeline as codepipeline
    from aws_cdk import aws_codepipeline_actions as actions
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

    from blueprint.config import CicdConfig
    from infra.constructs.pipeline_source import PipelineSource

    older = CONNECTION.replace("codeconnections", "codestar-connections")
    stack = cdk.Stack(cdk.App(), "Source", env=cdk.Environment(account=TOOLING, region="eu-west-1"))
    key = kms.Key(stack, "Key")
    source = PipelineSource(
        stack,
        "Source",
        cicd=CicdConfig(connection_arn=older, repository="acme/mlops-platform"),
        bucket_name="unused",
        encryption_key=key,
        access_logs=s3.Bucket(stack, "Logs"),
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    checkout = codepipeline.Artifact("Source")
    built = codepipeline.Pipeline(stack, "Pipeline", artifact_bucket=s3.Bucket(stack, "Artifacts"))
    built.add_stage(stage_name="Source", actions=[source.action(built, checkout, on_change=True)])
    built.add_stage(stage_name="Noop", actions=[actions.ManualApprovalAction(action_name="Wait")])
    template = Template.from_stack(stack)
    (properties,) = [r["Properties"] for r in template.find_resources("AWS::CodePipeline::Pipeline").values()]
    assert connection_actions(template, properties, older) == {"codestar-connections:UseConnection"}


def test_other_accounts_are_deployed_through_their_bootstrap_roles_and_trust_only_the_tooling_builds(elsewhere):
    cicd = elsewhere["cicd"]
    (deploy,) = [s for s in role_statements(cicd, "BuildsDeployRole") if s["Action"] == "sts:AssumeRole"]
    resources = json.dumps(deploy["Resource"])
    for account in (TOOLING, STAGING, PROD):
        assert f"iam::{account}:role/cdk-hnb659fds-*-role-{account}-" in resources
    (smoke,) = [s for s in role_statements(cicd, "BuildsSmokeTestRole") if s["Action"] == "sts:AssumeRole"]
    assert f"iam::{PROD}:role/mlops-prod-smoke-test" in json.dumps(smoke["Resource"])
    # prod's smoke-test role trusts the tooling account's smoke-test build, nothing else
    (role,) = [
        r["Properties"]
        for r in elsewhere["prod_serving"].find_resources("AWS::IAM::Role").values()
        if r["Properties"].get("RoleName") == "mlops-prod-smoke-test"
    ]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert f"iam::{TOOLING}:root" in json.dumps(trust["Principal"])
    assert f"iam::{TOOLING}:role/mlops-cicd-smoke-test" in json.dumps(trust["Condition"])
    # the release stage's approvals travel to the tooling account's bus, which accepts them
    (forward,) = (
        elsewhere["staging_build"]
        .find_resources("AWS::Events::Rule", {"Properties": {"Description": Match.string_like_regexp("Forward")}})
        .values()
    )
    assert f"{TOOLING}:event-bus/default" in json.dumps(forward["Properties"]["Targets"])
    assert forward["Properties"]["EventPattern"]["detail"]["ModelApprovalStatus"] == ["Approved", "Rejected"]
    cicd.has_resource_properties("AWS::Events::EventBusPolicy", {"Principal": STAGING, "Action": "events:PutEvents"})


def key_pattern(resource) -> str:
    """The key part of an object ARN pattern, however the template writes it: `arn:...:::<bucket>/<key>`, or a join
    of the bucket's ARN and `/<key>`."""
    text = resource if isinstance(resource, str) else "".join(p for p in resource["Fn::Join"][1] if isinstance(p, str))
    return text.split(":::", 1)[1].split("/", 1)[1] if ":::" in text else text.lstrip("/")


def test_the_release_stage_shares_its_models_with_the_serving_accounts(elsewhere):
    (policy,) = (
        elsewhere["staging_data"]
        .find_resources(
            "AWS::S3::BucketPolicy", {"Properties": {"Bucket": {"Ref": Match.string_like_regexp("^Artifacts")}}}
        )
        .values()
    )
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    shared = [s for s in statements if s["Effect"] == "Allow" and PROD in json.dumps(s.get("Principal"))]
    assert {s["Action"] for s in shared} == {"s3:GetObject", "s3:ListBucket"}
    (read,) = [s for s in shared if s["Action"] == "s3:GetObject"]
    shared_keys = {key_pattern(resource) for resource in read["Resource"]}
    assert shared_keys == {
        f"pipelines/mlops-staging-model-build/*/{folder}/*" for folder in ("train", "baseline", "explainability")
    }
    # every path prod's endpoint and its monitoring jobs read in the release stage's bucket is one it shares
    for template, role in (("prod_serving", "EndpointRole"), ("prod_monitoring", "MonitoringPipelineJobRole")):
        reads = [
            key_pattern(resource)
            for statement in role_statements(elsewhere[template], role)
            if statement["Action"] == "s3:GetObject"
            for resource in (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            if "mlops-staging-artifacts" in json.dumps(resource)
        ]
        assert reads and set(reads) <= shared_keys, (role, reads)
    key_policy = json.dumps(next(iter(elsewhere["staging_data"].find_resources("AWS::KMS::Key").values())))
    assert PROD in key_policy and "s3.eu-west-1.amazonaws.com" in key_policy
    (group,) = elsewhere["staging_build"].find_resources("AWS::SageMaker::ModelPackageGroup").values()
    # the developer guide's "deploy a model version from a different account" example, less UpdateModelPackage
    statements = {s["Sid"]: s for s in group["Properties"]["ModelPackageGroupPolicy"]["Statement"]}
    assert set(statements) == {"AddPermModelPackageGroup", "AddPermModelPackageVersion"}
    assert all(PROD in json.dumps(s["Principal"]) for s in statements.values())
    assert statements["AddPermModelPackageGroup"]["Action"] == ["sagemaker:DescribeModelPackageGroup"]
    group_arn, packages_arn = (json.dumps(statements[sid]["Resource"]) for sid in sorted(statements))
    assert group_arn.endswith(f':model-package-group/{RELEASE_GROUP}"')
    assert sorted(statements["AddPermModelPackageVersion"]["Action"]) == [
        "sagemaker:CreateModel",
        "sagemaker:DescribeModelPackage",
        "sagemaker:ListModelPackages",
    ]
    assert packages_arn.endswith(f':model-package/{RELEASE_GROUP}/*"')
    # prod names the group by ARN, in the release stage's account
    (batch,) = elsewhere["prod_serving"].find_resources("AWS::SageMaker::Pipeline").values()
    assert f"arn:aws:sagemaker:eu-west-1:{STAGING}:model-package-group/{RELEASE_GROUP}" in json.dumps(batch)


def test_a_stage_in_another_account_reaches_the_release_key_by_its_arn(elsewhere):
    statements = [
        statement
        for policy in elsewhere["prod_serving"].find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    release_keys = [s["Resource"] for s in statements if f":kms:eu-west-1:{STAGING}:" in json.dumps(s["Resource"])]
    assert release_keys and set(release_keys) == {STAGING_KEY}  # the key itself, wherever prod reads the models
    assert "kms:ResourceAliases" not in json.dumps(statements)  # no alias condition across accounts


def test_fails_when_a_stage_in_another_account_has_no_release_key_arn(tmp_path):
    from blueprint.config import ConfigError

    app = new_app(
        tmp_path,
        stage="prod",
        **{
            "platform.stages.staging.account": STAGING,
            "platform.stages.staging.region": "eu-west-1",
            "platform.stages.prod.account": PROD,
        },
    )
    message = r"platform\.stages\.staging\.data_key_arn in cdk\.json: prod serves .* set its output DataKeyArn here"
    with pytest.raises(ConfigError, match=message):
        build_platform(app)


def test_the_release_stages_guard_hears_the_alarms_of_endpoints_in_other_accounts(elsewhere):
    (forward,) = (
        elsewhere["prod_monitoring"]
        .find_resources("AWS::Events::Rule", {"Properties": {"Description": Match.string_like_regexp("^Forward")}})
        .values()
    )
    assert forward["Properties"]["EventPattern"]["detail"]["alarmName"] == [
        "mlops-prod-customer-churn-feature-drift",
        "mlops-prod-customer-churn-model-quality",
    ]
    assert f"{STAGING}:event-bus/default" in json.dumps(forward["Properties"]["Targets"])
    elsewhere["staging_monitoring"].has_resource_properties(
        "AWS::Events::EventBusPolicy", {"Principal": PROD, "Action": "events:PutEvents"}
    )


def test_the_builds_run_a_node_release_that_jsii_still_supports():
    """jsii's own table of Node.js releases (what it warns about) says the builds' Node.js is not end-of-life."""
    import re
    from datetime import date
    from pathlib import Path

    import jsii

    from infra.constructs.cicd_builds import RUNTIMES

    table = (Path(jsii.__file__).parent / "_embedded" / "jsii" / "bin__jsii-runtime.js").read_text()
    releases = {int(major): body for major, body in re.findall(r"NodeRelease\((\d+),\{([^}]*)\}", table)}
    assert len(releases) > 5  # the table was found
    release = releases[int(RUNTIMES["nodejs"])]
    end_of_life = date.fromisoformat(re.search(r'endOfLife:new Date\("([\d-]+)"\)', release).group(1))
    assert end_of_life > date.today() and "untested" not in release, release
