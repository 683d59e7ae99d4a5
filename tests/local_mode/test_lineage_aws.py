"""`local_mode lineage --aws`: the same chain walked through AWS's APIs (moto): from a request captured in the
monitoring bucket, through the endpoint's model to its package, the execution's parameters, the preprocessing
metadata and the ETL's manifests, to the raw export files."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from local_mode.lineage import LineageError, aws_lineage, describe

PIPELINE, ENDPOINT, CONTRACT = "mlops-prod-model-build", "mlops-prod-customer-churn", "customer-churn"
ARTIFACTS, CURATED, MONITORING = "mlops-prod-artifacts-b", "mlops-prod-curated-b", "mlops-prod-monitoring-b"
AT = datetime(2026, 12, 4, 10, 30, tzinfo=UTC)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def put(s3, bucket: str, key: str, document) -> str:
    body = document if isinstance(document, str) else json.dumps(document)
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    return f"s3://{bucket}/{key}"


@pytest.fixture()
def deployed():
    with mock_aws():
        sagemaker, s3 = boto3.client("sagemaker"), boto3.client("s3")
        for bucket in (ARTIFACTS, CURATED, MONITORING):
            s3.create_bucket(Bucket=bucket)
        sagemaker.create_pipeline(
            PipelineName=PIPELINE,
            RoleArn="arn:aws:iam::123456789012:role/pipeline",
            PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        )
        parameters = {
            "GitCommit": COMMIT,
            "Seed": "7",
            "StartReason": "etl-run",
            "GateThreshold": "0.75",
            "InputDataUri": f"s3://{CURATED}/data/{CONTRACT}/",
        }
        execution = sagemaker.start_pipeline_execution(
            PipelineName=PIPELINE, PipelineParameters=[{"Name": k, "Value": v} for k, v in parameters.items()]
        )["PipelineExecutionArn"]
        run = execution.rsplit("/", 1)[1]
        folder = f"pipelines/{PIPELINE}/{run}"
        put(
            s3,
            ARTIFACTS,
            f"{folder}/preprocess/metadata/metadata.json",
            {"data_sha256": "ab" * 32, "rows": {"train": 70, "validation": 20, "test": 10}, "etl_runs": ["r1", "r2"]},
        )
        report = put(
            s3,
            ARTIFACTS,
            f"{folder}/evaluate/evaluation/evaluation.json",
            {"binary_classification_metrics": {"auc": {"value": 0.91, "standard_deviation": 0.01}}},
        )
        put(
            s3,
            CURATED,
            f"manifests/{CONTRACT}/run=r1.json",
            {
                "ingest_date": "2026-12-01",
                "counts": {"read": 100},
                "source_files": [f"s3://raw/{CONTRACT}/export-1.jsonl"],
            },
        )
        sagemaker.create_model_package_group(ModelPackageGroupName="mlops-staging-customer-churn")
        package = sagemaker.create_model_package(
            ModelPackageGroupName="mlops-staging-customer-churn",
            InferenceSpecification={
                "Containers": [
                    {"Image": "xgboost:3.0-5", "ModelDataUrl": f"s3://{ARTIFACTS}/{folder}/train/model.tar.gz"}
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": report}}},
            CustomerMetadataProperties={
                "contract": CONTRACT,
                "git_commit": COMMIT,
                "data_sha256": "ab" * 32,
                "pipeline_execution_arn": execution,
                "start_reason": "etl-run",
            },
            ModelApprovalStatus="Approved",
        )["ModelPackageArn"]
        sagemaker.create_model(
            ModelName="mlops-prod-model-v1-abc",
            PrimaryContainer={"ModelPackageName": package},
            ExecutionRoleArn="arn:aws:iam::123456789012:role/m",
        )
        variant = {"VariantName": "AllTraffic", "ModelName": "mlops-prod-model-v1-abc", "InitialInstanceCount": 1}
        sagemaker.create_endpoint_config(
            EndpointConfigName="mlops-prod-config-v1-abc",
            ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}],
        )
        sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="mlops-prod-config-v1-abc")
        capture = {
            "captureData": {
                "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2", "encoding": "CSV"},
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "data": "0.3",
                    "encoding": "CSV",
                },
            },
            "eventMetadata": {"eventId": "e1", "inferenceId": "order-42", "inferenceTime": "2026-12-04T10:29:58Z"},
            "eventVersion": "0",
        }
        put(
            s3,
            MONITORING,
            f"datacapture/{ENDPOINT}/AllTraffic/2026/12/04/10/29-58-000-abc.jsonl",
            json.dumps(capture) + "\n",
        )
        yield sagemaker, s3


def test_the_chain_on_aws_runs_from_a_captured_request_to_the_raw_export_files(deployed):
    sagemaker, s3 = deployed
    links = aws_lineage(sagemaker, s3, bucket=MONITORING, endpoint=ENDPOINT, at=AT, inference_id="order-42")
    by_name = {link.what: link.facts for link in links}
    assert by_name["prediction"]["answered at"] == "2026-12-04T10:29:58Z"
    assert by_name["model package"]["package"].startswith("mlops-staging-customer-churn version 1")
    assert by_name["model package"]["status"] == "Approved" and by_name["model package"]["auc"] == 0.91
    assert by_name["pipeline execution"]["code commit"] == COMMIT and by_name["pipeline execution"]["seed"] == "7"
    assert by_name["training data"]["ETL runs"] == ["r1", "r2"]
    assert by_name["ETL run r1"]["raw files"] == [f"s3://raw/{CONTRACT}/export-1.jsonl"]
    assert by_name["ETL run r2"]["manifest"].startswith(f"not found at s3://{CURATED}/manifests/{CONTRACT}/run=r2.json")
    assert "export-1.jsonl" in describe(links)


def test_fails_naming_where_it_looked_when_no_request_has_the_id(deployed):
    sagemaker, s3 = deployed
    with pytest.raises(
        LineageError, match=rf"no captured request has inference id 'nope' \(looked under s3://{MONITORING}/"
    ):
        aws_lineage(sagemaker, s3, bucket=MONITORING, endpoint=ENDPOINT, at=AT, inference_id="nope")
