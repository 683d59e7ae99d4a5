"""The platform as data: its configuration (cdk.json's `platform` key), physical names, pipeline definitions (built
offline with the SageMaker SDK), alarm rules and code packages. The CDK app (infra/) deploys them and local mode
(local_mode/) runs them; this package imports neither, nor the CDK (tests/test_layers.py)."""
