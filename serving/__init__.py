"""Prediction service: FastAPI over the registered champion model."""
