"""The paper's autoencoder (section 3.2, Fig. 1): the backbone as encoder, a convolutional decoder
back to the input's ``S x S x 3``, a sigmoid output, trained with binary cross-entropy (Eq. 1)."""

from __future__ import annotations

import math

import keras

MIN_DECODER_FILTERS = 16


def build_autoencoder(encoder: keras.Model, filters: int = 256) -> keras.Model:
    """``encoder`` followed by a decoder of stride-2 transposed convolutions, one per halving the
    encoder did (five for these backbones), with ``filters`` halved at each (at least 16), then a
    3x3 convolution to three channels and a sigmoid. The encoder's layers are shared, not copied."""
    size, features = encoder.input.shape[1], encoder.output.shape[1]
    steps = math.log2(size / features)
    if not steps.is_integer() or steps < 1:
        raise ValueError(f"the encoder maps {size}px to {features}px, not a power-of-two reduction")
    x = encoder.output
    for i in range(int(steps)):
        x = keras.layers.Conv2DTranspose(max(MIN_DECODER_FILTERS, filters >> i), 3, strides=2, padding="same",
                                         activation="relu", name=f"decoder_up{i + 1}")(x)
    x = keras.layers.Conv2D(3, 3, padding="same", name="decoder_out")(x)
    reconstruction = keras.layers.Activation("sigmoid", name="reconstruction")(x)
    return keras.Model(encoder.input, reconstruction, name=f"{encoder.name}_autoencoder")


def reconstruction_loss() -> keras.losses.Loss:
    """Eq. (1): binary cross-entropy between input and reconstruction, averaged over every pixel and channel."""
    return keras.losses.BinaryCrossentropy()
