"""ONNX artifacts: the metadata that travels inside every exported model, the parity check
against the framework that trained it, and the normal form that gives one graph one byte sequence
(``canonical``)."""
