"""Model packages in moto's Model Registry, registered as the pipeline registers them."""

from __future__ import annotations

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"


def register_package(sagemaker, group: str, status: str, **extra) -> str:
    """A new version of `group` with ModelApprovalStatus `status` (and `extra` CreateModelPackage fields); its ARN."""
    return sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://artifacts/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        **extra,
    )["ModelPackageArn"]
