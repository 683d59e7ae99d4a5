"""What the CI/CD pipelines run in CodeBuild (standard library and boto3 only): find the release, smoke-test an
endpoint. The pipelines themselves are infra/constructs/commit_pipeline.py and deploy_pipeline.py."""
