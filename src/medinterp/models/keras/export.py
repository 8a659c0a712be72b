"""Keras models to ONNX (tf2onnx), with the metadata every exported model carries and a parity check.

One :class:`OnnxExporter` per model object uses the model's traced inference function; each
:meth:`~OnnxExporter.export` freezes the weights the model holds at that moment, so the runs of one
architecture that share a model object (the classifier variants) share that trace. The ONNX model
takes ``input`` (``N x S x S x 3`` float32 in [0, 1], NHWC, as the Keras model) and returns one
output named by the caller (``logit``, ``features``).

An ISIC checkpoint (``checkpoint.npz``) exports with :func:`export_checkpoint`; :func:`eager_runner`
is Keras's own forward pass of an exported checkpoint, for the inference benchmark.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from medinterp.errors import ConfigError
from medinterp.export import metadata
from medinterp.export.canonical import canonical_model
from medinterp.export.parity import checked, parity
from medinterp.io import readable, write_bytes
from medinterp.models import checkpoint as checkpoint_files
from medinterp.models.keras.checkpoint import load_checkpoint
from medinterp.models.keras.train import inference_function, run_batched

OPSET = 17


@contextmanager
def _tf2onnx_fail_fast() -> Iterator[None]:
    """tf2onnx's own switch: do not deep-copy the graph before every optimizer pass (halves the time)."""
    before = os.environ.get("TF2ONNX_CATCH_ERRORS")
    os.environ["TF2ONNX_CATCH_ERRORS"] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["TF2ONNX_CATCH_ERRORS"]
        else:
            os.environ["TF2ONNX_CATCH_ERRORS"] = before


def framework() -> dict:
    return metadata.framework_info("keras", f"{keras.__version__} (tensorflow {tf.__version__})")


class OnnxExporter:
    def __init__(self, model: keras.Model, output_name: str, function=None, batch_size: int = 32):
        """``function``: the model's :func:`~medinterp.models.keras.train.inference_function` when
        one is already traced (a trainer's ``forward``), so the export does not trace it again."""
        self.output_name, self.batch_size = output_name, batch_size
        self.function = function if function is not None else inference_function(model)

    def convert(self):
        """The ONNX model of the weights the model holds now.

        Freezes the traced function's variables into constants with TensorFlow's own converter and
        hands tf2onnx the graph: ``tf2onnx.convert.from_function`` does the same freezing, but then
        rebuilds a TensorFlow function from the frozen graph only to read the graph back, which on a
        large model such as DenseNet201 costs more than the freezing and the conversion together. The
        two internal functions used here are the ones tf2onnx itself uses for large models.
        """
        import tf2onnx
        from tensorflow.python.framework import convert_to_constants

        concrete = self.function.get_concrete_function()
        frozen, _ = convert_to_constants._replace_variables_by_constants(
            converter_data=convert_to_constants._FunctionConverterDataInEager(
                func=concrete, lower_control_flow=False, aggressive_inlining=True
            )
        )
        inputs = [t.name for t in concrete.inputs if t.dtype != tf.resource]
        outputs = [t.name for t in concrete.outputs]
        renames = {inputs[0]: "input", outputs[0]: self.output_name}
        with _tf2onnx_fail_fast():
            proto, _ = tf2onnx.convert.from_graph_def(
                frozen, input_names=inputs, output_names=outputs, opset=OPSET, tensors_to_rename=renames
            )
        return canonical_model(proto)  # tf2onnx's node order and made-up names change from run to run

    def keras_outputs(self, x: np.ndarray) -> np.ndarray:
        return run_batched(self.function, x, self.batch_size)

    def export(self, path: str | Path, meta: dict, parity_inputs: np.ndarray, tolerance: float) -> tuple[dict, dict]:
        """Write ``path`` with ``meta`` inside and in a sidecar JSON, ``meta["metrics"]["onnx_parity"]``
        set to the tracked record of the parity check of ONNX Runtime against Keras on
        ``parity_inputs`` (``export.parity.checked``). Returns that record and the measurement (max
        and mean absolute difference, provider, samples) for the run log. Raises ``RuntimeError``
        when the outputs differ by more than ``tolerance``."""
        metadata.validate(meta)
        proto = self.convert()
        write_bytes(path, proto.SerializeToString())
        # inside a stage's transaction the file is not at ``path`` until the stage ends
        measured = parity(readable(path), parity_inputs, self.keras_outputs(parity_inputs))
        record = checked(path, measured, tolerance, "Keras")
        metadata.attach(path, {**meta, "metrics": {**meta["metrics"], "onnx_parity": record}})
        return record, measured


# -- the ISIC checkpoints (checkpoint.npz) -----------------------------------------------------


def export_checkpoint(
    checkpoint: str | Path,
    onnx_path: str | Path,
    fields: dict[str, Any],
    images: np.ndarray,
    tolerance: float,
    opset: int,
) -> tuple[dict, dict]:
    """The checkpoint as ONNX (``input`` [0, 1] NHWC, output ``logits``) with the metadata
    ``export.metadata.for_checkpoint`` makes of its info and ``fields``, checked against Keras on
    ``images`` (``uint8`` NHWC): the parity record and measurement (``OnnxExporter.export``)."""
    if opset != OPSET:
        raise ConfigError(f"isic.export.opset is {opset}; the Keras family exports at opset {OPSET} (tf2onnx)")
    model, info = load_checkpoint(checkpoint)
    meta = metadata.for_checkpoint(info, framework=framework(), **fields)
    return OnnxExporter(model, "logits").export(
        onnx_path, meta, np.asarray(images, dtype=np.float32) / 255.0, tolerance
    )


def eager_runner(onnx_path: str | Path, meta: dict[str, Any]):
    """Keras's own forward pass of the checkpoint an ONNX file was exported from (``checkpoint.npz``
    beside it), taking the ONNX model's input; and the framework."""
    model, _ = load_checkpoint(checkpoint_files.path_in(Path(onnx_path).parent))
    return (lambda x: np.asarray(model(x, training=False))), framework()
