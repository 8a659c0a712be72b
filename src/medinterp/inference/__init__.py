"""Running exported models without the training code: ONNX Runtime plus the metadata in the file."""
