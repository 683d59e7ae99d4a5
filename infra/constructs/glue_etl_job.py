"""The Glue ETL job: raw JSON -> curated CSV, with its code, secret, security configuration and role."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from blueprint.naming import CURATED_DATA, MANIFESTS, QUARANTINE, curated_prefix
from blueprint.packages import ML_CODE, ml_code_zip
from infra.nag import acknowledge
from ml_code.contracts.contract import CONTRACTS_DIR

GLUE_VERSION = "5.0"
GLUE_SPARK_VERSION = "3.5.4"  # what Glue 5.0 runs (its release notes: Spark 3.5.4, Python 3.11, Java 17)
# A run writes its data and quarantine folders, and deletes those of a run that died before its manifest; it adds
# one manifest (the ledger) and never removes one.
RUN_AREAS = (CURATED_DATA, QUARANTINE)
DEFAULT_TIMEOUT = cdk.Duration.hours(2)
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
# Glue 5.0 writes every job's logs to `/aws-glue/jobs/error` (system, Spark, the Glue logger) and `/output` (stdout,
# stderr), or under the job's `--custom-logGroup-prefix` (its "Logging for AWS Glue jobs" page); the continuous-logging
# arguments of Glue 4.0 and earlier are gone. The job's own two groups exist first, with the key and a retention.
LOG_KINDS = ("error", "output")


class GlueEtlJob(Construct):
    """A Glue 5.0 Spark job running ml_code/etl for one dataset contract.

    Reads every new file of `raw_bucket`; writes `data/<contract>/`, `quarantine/<contract>/` and
    `manifests/<contract>/` in `curated_bucket`; a run that wrote new rows puts an `ETL Run Wrote Rows` event with
    `events_source` on the default bus. Its role can do that, read its code and its hash-key secret, and nothing
    else. A security configuration encrypts its S3 output, CloudWatch logs and job
    bookmarks with `encryption_key`. One run at a time (the manifests are its ledger of processed files).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        job_name: str,
        events_source: str,
        security_configuration_name: str,
        contract_name: str,
        raw_bucket: s3.IBucket,
        curated_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        removal_policy: cdk.RemovalPolicy,
        worker_type: str = "G.1X",
        number_of_workers: int = 2,
        timeout: cdk.Duration = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(scope, construct_id)
        contract_file = CONTRACTS_DIR / f"{contract_name}.json"
        if not contract_file.is_file():
            raise ValueError(f"{construct_id}: no dataset contract {contract_name!r} at {contract_file}")
        self.job_name = job_name
        stack = cdk.Stack.of(self)

        self.hash_key = secretsmanager.Secret(
            self,
            "HashKey",
            description=f"HMAC key that pseudonymises the PII columns of {contract_name} in the ETL",
            encryption_key=encryption_key,
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=removal_policy,
        )
        acknowledge(
            self.hash_key,
            "AwsSolutions-SMG4",
            "Rotating the HMAC key would give every customer a new pseudonym and break the one customer = one id "
            "guarantee across runs; only the ETL role can read it.",
        )

        script = s3_assets.Asset(self, "Script", path=str(ML_CODE / "etl" / "glue_job.py"))
        library = s3_assets.Asset(self, "Library", path=str(ml_code_zip()))
        contract = s3_assets.Asset(self, "Contract", path=str(contract_file))
        code = (script, library, contract)

        self.log_group_prefix = f"/aws-glue/jobs/{job_name}"
        self.log_groups = {
            kind: logs.LogGroup(
                self,
                f"{kind.capitalize()}Logs",
                log_group_name=f"{self.log_group_prefix}/{kind}",
                encryption_key=encryption_key,
                retention=LOG_RETENTION,
                removal_policy=removal_policy,
            )
            for kind in LOG_KINDS
        }
        encryption_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="GlueLogsUseTheKey",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description=f"Runs the {job_name} Glue job: read raw, write curated outputs, nothing else",
        )
        # Explicit actions (no `grant_*` wildcards): what Spark needs to list, read and write, and no more. The raw
        # bucket is listed whole: the job reads every object in it. The curated bucket only where the job reads and
        # writes, and the folders above (the root, `data/`, ...), which Hadoop's S3 connectors probe as directories
        # before they write below them (IAM's "home folder" pattern).
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[raw_bucket.bucket_arn]))
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[curated_bucket.bucket_arn],
                conditions={
                    "StringLike": {
                        "s3:prefix": listed_prefixes(
                            [curated_prefix(area, contract_name) for area in (*RUN_AREAS, MANIFESTS)]
                        )
                    }
                },
            )
        )
        raw_objects = raw_bucket.arn_for_objects("*")
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[raw_objects]))
        run_outputs = [curated_bucket.arn_for_objects(f"{curated_prefix(area, contract_name)}*") for area in RUN_AREAS]
        manifests = curated_bucket.arn_for_objects(f"{curated_prefix(MANIFESTS, contract_name)}*")
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources=run_outputs)
        )
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[manifests]))
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[f"arn:{stack.partition}:s3:::{a.s3_bucket_name}/{a.s3_object_key}" for a in code],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[self.hash_key.secret_arn],
            )
        )
        # data in both buckets, the secret, bookmarks and logs are all under the platform key
        encryption_key.grant(self.role, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")
        # The job's two log groups, and the names Glue gives groups it creates itself under an encrypting security
        # configuration (`/aws-glue/jobs/<configuration>-role/<role>/...`), should it ever use them.
        glue_logs = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws-glue/jobs/{security_configuration_name}-role/{self.role.role_name}/*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        log_streams = [f"{group.log_group_arn}:*" for group in self.log_groups.values()]
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
                resources=[glue_logs, *(group.log_group_arn for group in self.log_groups.values()), *log_streams],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}},
            )
        )
        # a run that wrote new rows announces them (ml_code/etl/announce.py), with its own source only
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[stack.format_arn(service="events", resource="event-bus", resource_name="default")],
                conditions={"StringEquals": {"events:source": events_source}},
            )
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "The job reads every raw export, and reads and writes only under its own curated prefixes.",
            raw_objects,
            *run_outputs,
            manifests,
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "Glue names the log streams at run time, in this job's own error and output log groups (and in the groups "
            "its security configuration and role would name).",
            glue_logs,
            *log_streams,
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "cloudwatch:PutMetricData has no resource ARNs; a condition limits it to the Glue namespace.",
            "*",
        )

        self.security_configuration = glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name=security_configuration_name,
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=encryption_key.key_arn
                    )
                ],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=encryption_key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=encryption_key.key_arn
                ),
            ),
        )

        curated_uri = f"s3://{curated_bucket.bucket_name}"
        self.job = glue.CfnJob(
            self,
            "Job",
            name=job_name,
            description=f"ETL of raw {contract_name} exports: curated CSV, quarantine, PII dropped or hashed",
            role=self.role.role_arn,
            glue_version=GLUE_VERSION,
            worker_type=worker_type,
            number_of_workers=number_of_workers,
            timeout=int(timeout.to_minutes()),
            max_retries=0,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=1),
            security_configuration=self.security_configuration.ref,  # Ref: the name, and the dependency
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=script.s3_object_url
            ),
            default_arguments={
                "--job-language": "python",
                "--job-bookmark-option": "job-bookmark-enable",
                "--custom-logGroup-prefix": self.log_group_prefix,
                "--enable-metrics": "true",
                "--extra-py-files": library.s3_object_url,
                "--extra-files": contract.s3_object_url,
                "--contract_file": contract_file.name,
                "--raw_uri": f"s3://{raw_bucket.bucket_name}/",
                "--curated_uri": f"{curated_uri}/{curated_prefix(CURATED_DATA, contract_name)}",
                "--quarantine_uri": f"{curated_uri}/{curated_prefix(QUARANTINE, contract_name)}",
                "--manifest_uri": f"{curated_uri}/{curated_prefix(MANIFESTS, contract_name)}",
                "--hash_key_secret_id": self.hash_key.secret_arn,
                "--events_source": events_source,
            },
        )

    @property
    def job_arn(self) -> str:
        return cdk.Stack.of(self).format_arn(service="glue", resource="job", resource_name=self.job_name)


def listed_prefixes(prefixes: list[str]) -> list[str]:
    """The `s3:prefix` values a job that works under `prefixes` (`data/churn/`) lists: everything below each, and each
    folder above it as a directory probe asks for it, with and without its slash (`""`, `data`, `data/`,
    `data/churn`)."""
    found = [""]
    for prefix in prefixes:
        parts = prefix.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            found += [folder, f"{folder}/"]
        found.append(f"{prefix.rstrip('/')}/*")
    return list(dict.fromkeys(found))
