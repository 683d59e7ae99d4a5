#!/usr/bin/env python3
"""Composition root: config from cdk.json context -> stacks -> synth. See infra/platform.py."""

import aws_cdk as cdk

from infra.platform import build_platform

# CDK's built-in template validation runs in `make test` instead, where any finding fails (tests/infra); here it
# would add 3 s to every synth and only print warnings. cdk-nag still checks every synth.
app = cdk.App(builtin_cloud_formation_validation=False)
build_platform(app)
app.synth()
