"""The paths the jobs read and write, and the names of the folders, files and channels in them, shared by the step
scripts, local mode and the pipeline definition. Defaults and limits are in ml_code/settings.py.

Defined once here (standard library only, so every side can import it) and pinned by contract tests.
"""

# Processing jobs (preprocess, evaluate): inputs and outputs live under this base.
PROCESSING_BASE = "/opt/ml/processing"
PROCESSING_INPUT_DATA = "input/data"
# Preprocessing's outputs, each a folder under the processing base.
SPLITS = ("train", "validation", "test")
BASELINE_OUTPUT = "baseline"
TRANSFORM_OUTPUT = "transform"
METADATA_OUTPUT = "metadata"  # the input data's hash and row counts, recorded with the registered model
# A few raw feature records of the training baseline (no target, no ids), registered as the package's
# SamplePayloadUrl: a .tar.gz holding one CSV with a header, which a smoke test sends to a new endpoint.
SAMPLE_PAYLOAD_OUTPUT = "sample_payload"
PREPROCESS_OUTPUTS = (*SPLITS, BASELINE_OUTPUT, TRANSFORM_OUTPUT, METADATA_OUTPUT, SAMPLE_PAYLOAD_OUTPUT)
# With a fairness section in the contract, also the datasets the bias jobs analyze (CSV with a header, the label as
# 1/0): the training split's label and facets, and the test split's label, raw inputs and facets.
FAIRNESS_DATA_OUTPUT = "fairness"
FAIRNESS_TRAIN_FILE, FAIRNESS_TEST_FILE = "train.csv", "test.csv"
# The bias and explainability jobs (ml_code/fairness/analyze.py, Clarify's file formats): the analysis configs
# (`<config output>/<analysis>/analysis_config.json`, ml_code/fairness/config.py writes them), where a job reads its
# config and dataset and leaves analysis.json (under the processing base), and the fairness gate's inputs (each a
# job's results) and decision.
CLARIFY_CONFIG_OUTPUT = "clarify_config"
DATA_BIAS, MODEL_BIAS, EXPLAINABILITY = "data_bias", "model_bias", "explainability"
MODEL_BIAS_MONITOR, EXPLAINABILITY_MONITOR = "model_bias_monitor", "explainability_monitor"
CLARIFY_CONFIG_FILE = "analysis_config.json"
CLARIFY_CONFIG_INPUT, CLARIFY_DATA_INPUT, CLARIFY_RESULT_OUTPUT = "input/config", "input/data", "output"
ANALYSIS_MODEL_INPUT = "model"  # the model archive of the model-bias and explainability jobs, when they have one
CLARIFY_ANALYSIS_FILE = "analysis.json"
FAIRNESS_CHECK_INPUTS = (DATA_BIAS, MODEL_BIAS)
FAIRNESS_DECISION_OUTPUT, FAIRNESS_DECISION_FILE = "fairness", "decision.json"
# Training's input channels (SM_CHANNEL_<NAME>), each fed by the preprocessing output of the same name.
TRAINING_CHANNELS = ("train", "validation", TRANSFORM_OUTPUT)
# Evaluation's inputs and output, folders under the processing base.
EVALUATION_MODEL_INPUT = "model"
EVALUATION_TEST_INPUT = "test"
EVALUATION_OUTPUT = "evaluation"

# The data-quality baseline (ml_code/monitoring/data_quality.py): it reads preprocessing's baseline records and
# writes Model Monitor's two files.
DATA_QUALITY_INPUT, DATA_QUALITY_OUTPUT = "input/baseline", "data_quality"
STATISTICS_FILE, CONSTRAINTS_FILE = "statistics.json", "constraints.json"
# The baseline of what the endpoint answers (its fields, for the test split): a folder beside evaluation.json.
ANSWERS_BASELINE = "answers"

TRANSFORM_FILE = "transform.json"
BASELINE_FILE = "baseline.csv"
MODEL_FILE = "xgboost-model.json"
MODEL_ARCHIVE = "model.tar.gz"
REPORT_FILE = "evaluation.json"
HYPERPARAMETERS_FILE = "hyperparameters.json"  # what a model was trained with: in the model, and beside its report
METADATA_FILE = "metadata.json"
CHAMPION_OUTPUT = "champion"
CHAMPION_FILE = "decision.json"
SAMPLE_PAYLOAD_ARCHIVE = "payload.tar.gz"
SAMPLE_PAYLOAD_FILE = "payload.csv"

# Batch scoring: the newest Approved package (its ARN and model data) found by one step, read by the next; the
# scorer reads curated CSV (input/data), the model (model/model.tar.gz), and writes predictions with the ids.
APPROVED_MODEL_OUTPUT = "approved"
APPROVED_MODEL_FILE = "approved_model.json"
SCORING_MODEL_INPUT = "model"
PREDICTIONS_OUTPUT = "predictions"
SCORING_SUMMARY_FILE = "_scoring.json"

# Serving: the model directory carries its code (endpoints run with network isolation, so nothing is
# downloaded at start-up); the container runs SERVING_PROGRAM from SERVING_CODE_DIR.
SERVING_CODE_DIR = "code"
SERVING_PROGRAM = "inference.py"
MODEL_DIR = "/opt/ml/model"
ENDPOINT_VARIANT = "AllTraffic"  # an endpoint's one production variant, on AWS and locally (capture paths name it)
# An ETL run's curated folder holds this file once its manifest is in the ledger: training reads only such runs.
RUN_RECORDED_MARKER = "_RECORDED"

# In the monitoring bucket (a local bucket in local mode): captured traffic,
# `datacapture/<endpoint>/<variant>/yyyy/mm/dd/hh/` (SageMaker adds what follows the prefix), and ground truth,
# `groundtruth/<endpoint>/yyyy/mm/dd/hh/*.jsonl` (ml_code/monitoring/ground_truth.py).
DATA_CAPTURE_PREFIX = "datacapture"
GROUND_TRUTH_PREFIX = "groundtruth"
# The monitoring pipeline: its first step writes what the run reads (served.json, a property file, and the window's
# manifest); the monitoring job gets the window's files, the served package's baselines, and writes its reports.
SERVED_MODEL_OUTPUT, SERVED_MODEL_FILE, WINDOW_MANIFEST_FILE = "served", "served.json", "window.manifest"
MONITORING_WINDOW_INPUT = "window"
MONITORING_STATISTICS_INPUT, MONITORING_CONSTRAINTS_INPUT = "statistics", "constraints"
# with a fairness section in the contract, the served model (for SHAP and the bias metrics) and its explainability
# report (the ranking attribution drift compares with)
MONITORING_MODEL_INPUT, MONITORING_EXPLAINABILITY_INPUT = "model", "explainability"
MONITORING_REPORTS_OUTPUT = "reports"
# what a run writes there besides statistics.json: the violations, and by check a folder of its report
VIOLATIONS_FILE = "constraint_violations.json"
MODEL_QUALITY_DIR, BIAS_DIR, ATTRIBUTION_DIR = "model_quality", "bias", "attribution"

# Processing jobs receive the code package (a .tar.gz) here; ml_code/bootstrap.py unpacks it.
CODE_PACKAGE_INPUT = "/opt/ml/processing/input/code_package"

# Training jobs.
TRAINING_BASE = "/opt/ml"
CHECKPOINT_DIR = "/opt/ml/checkpoints"
# Where SageMaker reads a job's failure reason: training jobs (FailureReason), processing jobs (ExitMessage).
TRAINING_FAILURE_FILE = "/opt/ml/output/failure"
PROCESSING_FAILURE_FILE = "/opt/ml/output/message"
