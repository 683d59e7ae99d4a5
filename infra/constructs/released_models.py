"""The models a serving stage serves: the release stage's Approved packages and their artifacts."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from blueprint.config import SOURCE, ConfigError, PlatformConfig, StageConfig
from blueprint.naming import (
    baselines_prefix,
    data_key_alias,
    explainability_prefix,
    model_data_prefix,
    model_package_group_name,
    released_group_reference,
)
from infra.deploying import stage_bucket_name


class ReleasedModels(Construct):
    """Where the models every serving stage serves come from: the Model Registry group of the `release` stage, the
    trained models under its artifacts bucket's model-build prefix, and its KMS key. The `serving` stage passes its
    own `encryption_key`, used as is when it is the release stage. Another stage of the same account reaches the
    release stage's key by its alias (a key id is not known at synth); a stage in another account by the key's ARN,
    the release stage's `data_key_arn` (IAM documents no cross-account use of the alias condition)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        release: StageConfig,
        serving: StageConfig,
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.group_name = model_package_group_name(config, release)
        self.group_reference = released_group_reference(config, serving)  # its ARN from another account
        self.bucket = s3.Bucket.from_bucket_name(self, "Artifacts", stage_bucket_name(config, release, "artifacts"))
        self.prefix = model_data_prefix(config, release)
        self._baselines = baselines_prefix(config, release)
        self._explainability = explainability_prefix(config, release)
        self._own_key = encryption_key if release.name == serving.name else None
        self._key_alias = data_key_alias(config, release)
        self._key_arn = None
        if self._own_key is None and config.serves_from_another_account(serving):
            if release.data_key_arn is None:
                raise ConfigError(
                    f"platform.stages.{release.name}.data_key_arn in {SOURCE}: {serving.name} serves the models of "
                    f"{release.name} from another account and reaches their key by its ARN: deploy "
                    f"{release.name}'s data stack, then set its output DataKeyArn here"
                )
            self._key_arn = release.data_key_arn
        stack = cdk.Stack.of(self)
        self._account = release.account or stack.account
        self._region = release.region or stack.region
        self.package_arns = stack.format_arn(
            service="sagemaker",
            resource="model-package",
            resource_name=f"{self.group_name}/*",
            account=self._account,
            region=self._region,
        )

    @property
    def model_data(self) -> str:
        """The ARN pattern of the trained models' objects (one folder per pipeline execution)."""
        return self.bucket.arn_for_objects(f"{self.prefix}*")

    @property
    def baselines(self) -> str:
        """The ARN pattern of the drift baselines (statistics and constraints) the model build registers."""
        return self.bucket.arn_for_objects(f"{self._baselines}*")

    def grant_read(self, grantee: iam.IGrantable) -> list[str]:
        """Let `grantee` read and decrypt the trained models; returns the wildcard resources granted, for the caller's
        cdk-nag acknowledgement."""
        return self._grant_read(grantee, self.model_data)

    @property
    def explainability_baselines(self) -> str:
        """The ARN pattern of the explainability reports (the attribution-drift baselines)."""
        return self.bucket.arn_for_objects(f"{self._explainability}*")

    def grant_read_explainability_baselines(self, grantee: iam.IGrantable) -> list[str]:
        """Let `grantee` read and decrypt the models' explainability reports; returns the wildcards."""
        return self._grant_read(grantee, self.explainability_baselines)

    def grant_read_baselines(self, grantee: iam.IGrantable) -> list[str]:
        """Let `grantee` read and decrypt the models' drift baselines; returns the wildcard resources granted."""
        return self._grant_read(grantee, self.baselines)

    def _grant_read(self, grantee: iam.IGrantable, objects: str) -> list[str]:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[objects])
        )
        if self._own_key is not None:
            self._own_key.grant_decrypt(grantee)
            return [objects]
        if self._key_arn is not None:
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(actions=["kms:Decrypt"], resources=[self._key_arn])
            )
            return [objects]
        keys = cdk.Stack.of(self).format_arn(
            service="kms", resource="key", resource_name="*", account=self._account, region=self._region
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[keys],
                conditions={"ForAnyValue:StringEquals": {"kms:ResourceAliases": self._key_alias}},
            )
        )
        return [objects, keys]
