"""The torchvision family: builders, training, checkpoints and the interpretability adapter."""
