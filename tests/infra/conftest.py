"""One synth of the whole app per test session, built by the same function as app.py."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template

from infra.platform import build_platform
from tests.infra.synth import SynthesizedPlatform, new_app


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedPlatform:
    """Every configured stage, synthesized once; cdk-nag findings would make this fixture raise."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = new_app(outdir)
    built = build_platform(app)
    return SynthesizedPlatform(stacks=built.stages, cicd=built.cicd, assembly=app.synth(), outdir=outdir)


@pytest.fixture(scope="session")
def dev(platform) -> Template:
    """The dev stage's DataStack template."""
    return platform.template(platform.stacks["dev"].data)


@pytest.fixture(scope="session")
def prod(platform) -> Template:
    """The prod stage's DataStack template."""
    return platform.template(platform.stacks["prod"].data)
