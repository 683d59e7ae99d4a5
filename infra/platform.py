"""Builds the whole platform into a CDK app: config -> stacks per stage -> compliance checks."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from blueprint.config import PlatformConfig, StageConfig, load_config, selected_stages
from blueprint.naming import cicd_prefix, stack_id, stack_name
from blueprint.pipeline.builds import DefinitionBuilds
from blueprint.pipeline.settings import BatchScoringSettings, MonitoringSettings, PipelineSettings
from infra.stacks.cicd_stack import CicdStack
from infra.stacks.data_stack import DataStack
from infra.stacks.model_build_stack import ModelBuildStack
from infra.stacks.monitoring_stack import MonitoringStack
from infra.stacks.serving_stack import ServingStack


@dataclass(frozen=True)
class StageStacks:
    """The stacks of one stage, for wiring and for tests."""

    stage: StageConfig
    data: DataStack
    model_build: ModelBuildStack
    serving: ServingStack | None  # where the stage serves (its `serving` setting)
    monitoring: MonitoringStack

    def all(self) -> tuple[cdk.Stack, ...]:
        stacks = (self.data, self.model_build, self.serving, self.monitoring)
        return tuple(stack for stack in stacks if stack is not None)


@dataclass(frozen=True)
class Platform:
    """Every stack of the app: each selected stage's, and the CI/CD stack (None in a one-stage app)."""

    stages: dict[str, StageStacks]
    cicd: CicdStack | None

    def all(self) -> tuple[cdk.Stack, ...]:
        stacks = tuple(stack for stage in self.stages.values() for stack in stage.all())
        return stacks if self.cicd is None else (*stacks, self.cicd)


def build_platform(app: cdk.App) -> Platform:
    """Add every selected stage's stacks (and, with every stage, the CI/CD stack) to `app` and turn on cdk-nag
    AwsSolutions for all of them."""
    context = app.node.get_all_context()  # cdk.json and -c flags; nothing else is read
    config = load_config(context)
    stages = selected_stages(config, context)
    # A child process builds every pipeline definition meanwhile (blueprint/pipeline/builds.py); the stacks that need
    # none (data, CI/CD) come first, so that little of the app waits for it.
    definitions = DefinitionBuilds(
        config.dataset_contract,
        training=[PipelineSettings.for_stage(config, stage) for stage in stages],
        batch_scoring=[BatchScoringSettings.for_stage(config, stage) for stage in stages if stage.serving.enabled],
        monitoring=[MonitoringSettings.for_stage(config, stage) for stage in stages if stage.monitoring.enabled],
    )
    data = {stage.name: _data_stack(app, config, stage) for stage in stages}
    cicd = None
    if len(stages) == len(config.stages):  # the pipelines span every stage: not in a one-stage app (-c stage=...)
        cicd = CicdStack(
            app,
            stack_name=cicd_prefix(config),
            config=config,
            env=cdk.Environment(account=config.tooling_account, region=config.tooling_region),
        )
        cdk.Tags.of(cicd).add("platform", config.prefix)
    stacks = {stage.name: _build_stage(app, config, stage, data[stage.name], definitions) for stage in stages}
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return Platform(stages=stacks, cicd=cicd)


def _stack(cls: type, app: cdk.App, config: PlatformConfig, stage: StageConfig, component: str, **kwargs):
    """The stage's `cls` stack: construct id `<Stage><Component>` (what `cdk deploy` selects), stack name
    `<prefix>-<stage>-<component>`, in the stage's account and region."""
    name = "".join("-" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(component))
    return cls(
        app,
        stack_id(stage, component),
        stack_name=stack_name(config, stage, name),
        config=config,
        stage=stage,
        env=cdk.Environment(account=stage.account, region=stage.region),
        **kwargs,
    )


def _data_stack(app: cdk.App, config: PlatformConfig, stage: StageConfig) -> DataStack:
    return _stack(DataStack, app, config, stage, "Data")


def _build_stage(
    app: cdk.App,
    config: PlatformConfig,
    stage: StageConfig,
    data: DataStack,
    definitions: DefinitionBuilds,
) -> StageStacks:
    key = data.key
    model_build = _stack(ModelBuildStack, app, config, stage, "ModelBuild", encryption_key=key, definitions=definitions)
    model_build.add_stack_dependency(data)
    serving = None
    if stage.serving.enabled:
        serving = _stack(ServingStack, app, config, stage, "Serving", encryption_key=key, definitions=definitions)
        serving.add_stack_dependency(model_build)
    monitoring = _stack(MonitoringStack, app, config, stage, "Monitoring", encryption_key=key, definitions=definitions)
    # it names the endpoint, which it finds when a run starts: serving never waits for monitoring, nor the reverse
    monitoring.add_stack_dependency(model_build)
    stacks = StageStacks(stage=stage, data=data, model_build=model_build, serving=serving, monitoring=monitoring)
    for stack in stacks.all():
        cdk.Tags.of(stack).add("platform", config.prefix)
        cdk.Tags.of(stack).add("stage", stage.name)
    return stacks
