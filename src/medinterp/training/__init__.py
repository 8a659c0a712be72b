"""Framework-free training: the epoch loop, early stopping and learning-rate schedule both model families share."""
