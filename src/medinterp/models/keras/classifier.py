"""The paper's classifier (section 3.1): a densely connected head on the encoder's feature map.

One logit for ``malignant`` (class 1); the sigmoid that turns it into a probability is applied
outside the model, so Grad-CAM differentiates the logit (the score before the output activation,
as the Grad-CAM paper prescribes) and the exported ONNX model says ``activation: sigmoid``.
"""

from __future__ import annotations

import keras


def build_classifier(encoder: keras.Model, units: int = 256, dropout: float = 0.5) -> keras.Model:
    """``encoder`` -> global average pooling -> dense ``units`` (ReLU) -> dropout -> one logit.
    The encoder's layers are shared, not copied."""
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(encoder.output)
    x = keras.layers.Dense(units, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    logit = keras.layers.Dense(1, name="head_logit")(x)
    return keras.Model(encoder.input, logit, name=f"{encoder.name}_classifier")


def classification_loss() -> keras.losses.Loss:
    return keras.losses.BinaryCrossentropy(from_logits=True)

