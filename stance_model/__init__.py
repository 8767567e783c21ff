"""The model runtime: what a trained model is once saved, and how it predicts.

Training (``training``) and the service (``serving``) both use it; it needs neither of them and no
MLflow. ``Predictor.load(folder)`` reads a saved model; ``ModelSpec`` is the part of its
configuration that prediction depends on.
"""

from stance_model.base import Model, Scores
from stance_model.predictor import Predictor
from stance_model.spec import ModelSpec

__all__ = ["Model", "ModelSpec", "Predictor", "Scores"]
