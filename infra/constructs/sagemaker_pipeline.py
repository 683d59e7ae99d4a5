"""A SageMaker Pipeline resource from a definition built as data, its `${...}` placeholders filled at deploy."""

from __future__ import annotations

import json
import re

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from blueprint.packages import ML_CODE, ml_code_sourcedir
from blueprint.pipeline.settings import IMAGE_PLACEHOLDERS

IMAGE_MAP = "SageMakerImages"
# Image placeholders -> their key in the region mapping (`XgboostImageUri` -> `Xgboost`).
_IMAGE_KEYS = {name: name.removesuffix("ImageUri") for name in IMAGE_PLACEHOLDERS}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z]+)\}")


def code_assets(scope: Construct) -> tuple[s3_assets.Asset, s3_assets.Asset]:
    """The code processing and training jobs run: ml_code as `sourcedir.tar.gz`, and the bootstrap that unpacks it."""
    return (
        s3_assets.Asset(scope, "SourceDir", path=str(ml_code_sourcedir())),
        s3_assets.Asset(scope, "Bootstrap", path=str(ML_CODE / "bootstrap.py")),
    )


def code_locations(sourcedir: s3_assets.Asset, bootstrap: s3_assets.Asset) -> dict[str, str]:
    """The code placeholders of a pipeline definition, filled from the assets."""
    return {
        "CodeBucket": sourcedir.s3_bucket_name,
        "SourceDirKey": sourcedir.s3_object_key,
        "BootstrapKey": bootstrap.s3_object_key,
    }


def region_image(scope: Construct, images: dict[str, dict[str, str]], placeholder: str) -> str:
    """The URI of the image `placeholder` (`XgboostImageUri`, ...) in the stack's region, from `images` (region ->
    placeholder -> URI) through a region mapping in `scope` (one per scope, holding only the images asked for)."""
    key = _IMAGE_KEYS[placeholder]
    mapping = scope.node.try_find_child(IMAGE_MAP)
    if mapping is None:
        mapping = cdk.CfnMapping(
            scope, IMAGE_MAP, mapping={region: {key: uris[placeholder]} for region, uris in images.items()}
        )
    else:
        for region, uris in images.items():
            mapping.set_value(region, key, uris[placeholder])
    return mapping.find_in_map(cdk.Stack.of(scope).region, key)


def pipeline_arn(scope: Construct, pipeline_name: str) -> str:
    """The ARN of the pipeline `pipeline_name` in `scope`'s stack (SageMaker keeps pipeline names lowercase there)."""
    return cdk.Stack.of(scope).format_arn(service="sagemaker", resource="pipeline", resource_name=pipeline_name.lower())


def pipeline_resource(
    scope: Construct,
    construct_id: str,
    *,
    pipeline_name: str,
    description: str,
    role: iam.IRole,
    definition: dict,
    values: dict[str, str],
    images: dict[str, dict[str, str]],
) -> sagemaker.CfnPipeline:
    """`AWS::SageMaker::Pipeline` `construct_id` in `scope` running `definition`, whose placeholders get `values`
    (names -> tokens) and image URIs from `images` (region -> placeholder -> URI) through a region mapping. A
    placeholder without a value fails here, naming it."""
    body = json.dumps(definition, sort_keys=True)
    used = set(_PLACEHOLDER.findall(body)) - {"AWS::Region"}
    missing = sorted(used - set(values) - set(_IMAGE_KEYS))
    if missing:
        raise ValueError(f"pipeline {pipeline_name}: no value for placeholder(s) {missing}")
    substitutions = {name: value for name, value in values.items() if name in used}
    substitutions.update({name: region_image(scope, images, name) for name in _IMAGE_KEYS if name in used})
    return sagemaker.CfnPipeline(
        scope,
        construct_id,
        pipeline_name=pipeline_name,
        pipeline_description=description,
        role_arn=role.role_arn,
        pipeline_definition={"PipelineDefinitionBody": cdk.Fn.sub(body, substitutions)},
    )


def start_rule(
    scope: Construct,
    construct_id: str,
    *,
    pipeline_arn: str,
    description: str,
    event_pattern: dict | None = None,
    schedule_expression: str | None = None,
    parameters: dict[str, str] | None = None,
) -> events.CfnRule:
    """An EventBridge rule `construct_id` that starts the pipeline on a matching event or a schedule, with
    `parameters` (default: the pipeline's defaults), and its role `StartRole` (one per scope), allowed to start this
    pipeline only."""
    if (event_pattern is None) == (schedule_expression is None):
        raise ValueError("a start rule needs exactly one of an event pattern and a schedule")
    role = iam.Role(scope, "StartRole", assumed_by=iam.ServicePrincipal("events.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["sagemaker:StartPipelineExecution"], resources=[pipeline_arn]))
    return events.CfnRule(
        scope,
        construct_id,
        description=description,
        event_pattern=event_pattern,
        schedule_expression=schedule_expression,
        targets=[
            events.CfnRule.TargetProperty(
                id="Pipeline",
                arn=pipeline_arn,
                role_arn=role.role_arn,
                sage_maker_pipeline_parameters=events.CfnRule.SageMakerPipelineParametersProperty(
                    pipeline_parameter_list=[
                        events.CfnRule.SageMakerPipelineParameterProperty(name=name, value=value)
                        for name, value in parameters.items()
                    ]
                )
                if parameters
                else None,
            )
        ],
    )
