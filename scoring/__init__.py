"""Scoring whole archives: ``python -m scoring score`` labels every article of a file with the
service's own segmentation, model runtime, thresholds and article summary."""
