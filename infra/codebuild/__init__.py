"""What runs inside the CI/CD pipelines' CodeBuild projects (standard library and boto3 only): find the release,
smoke-test an endpoint. The pipelines themselves are infra/constructs/commit_pipeline.py and deploy_pipeline.py;
`make upload-source` runs infra/upload_source.py on the engineer's machine."""
