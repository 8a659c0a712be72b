"""Framework-free evaluation: classification metrics from labels and predicted probabilities."""
