"""ONNX artifacts: the metadata that travels inside every exported model, and the parity check
against the framework that trained it."""
