#!/usr/bin/env python3
"""Composition root: config from cdk.json context -> stacks -> synth. See infra/platform.py."""

import aws_cdk as cdk

from infra.platform import build_platform

app = cdk.App()
build_platform(app)
app.synth()
