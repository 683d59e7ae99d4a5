"""Experiment tracking: every pipeline execution, tuning trial and monitoring run as an MLflow run.

MLflow is an index over the reports the jobs already write, never a second source: the runs are made from those
files (tracking/executions.py) and logged once per execution (tracking/runs.py). The same code logs locally
(local_mode/experiments.py: a store in the workdir) and on AWS (`python -m tracking`, run by the logging build
when an execution ends, to the stage's SageMaker AI MLflow tracking server).
"""

# The kinds of run (the tag `mlops.kind`), named here so that callers need not import MLflow to say one.
MODEL_BUILD, MONITORING, TUNING, TRIAL = "model-build", "monitoring", "tuning", "trial"
KINDS = (MODEL_BUILD, MONITORING)  # the pipeline executions `python -m tracking` logs (trials come with their run)
