"""The model families: each turns a registry spec into a network and implements the interpretability adapter."""
