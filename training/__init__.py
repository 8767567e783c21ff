"""Training package: baselines and fine-tuned MiniLM classifiers, tracked in MLflow."""
