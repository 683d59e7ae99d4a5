"""The endpoint's entry point: training copies this file to `<model>/code/inference.py` beside the ml_code
package, and the container (SAGEMAKER_PROGRAM=inference.py) loads the handlers from here."""

from ml_code.inference.inference import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]
