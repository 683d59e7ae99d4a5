#!/usr/bin/env python3
"""Composition root: config from cdk.json context -> stacks -> synth. See infra/platform.py."""

from blueprint.pipeline.builds import start_builder

start_builder()  # the SageMaker SDK's import in a child process, while this one imports the CDK

import aws_cdk as cdk  # noqa: E402

from infra.platform import build_platform  # noqa: E402

# CDK's built-in template validation runs in `make test` instead, where any finding fails (tests/infra); here it
# would add 3 s to every synth and only print warnings. cdk-nag still checks every synth.
app = cdk.App(builtin_cloud_formation_validation=False)
build_platform(app)
app.synth()
