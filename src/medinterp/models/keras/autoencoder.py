"""The paper's autoencoder (section 3.2, Fig. 1): the backbone as encoder, a convolutional decoder
back to the input's ``S x S x 3``, a sigmoid output, trained with binary cross-entropy (Eq. 1)."""

from __future__ import annotations

import keras

from medinterp.models.decoder import decoder_widths


def build_autoencoder(encoder: keras.Model, filters: int = 256) -> keras.Model:
    """``encoder`` followed by a decoder of stride-2 transposed convolutions, one per halving the
    encoder did, widths by :func:`medinterp.models.decoder.decoder_widths`, then a 3x3
    convolution to three channels and a sigmoid. The encoder's layers are shared, not copied."""
    x = encoder.output
    for i, width in enumerate(decoder_widths(encoder.name, encoder.input.shape[1], encoder.output.shape[1], filters)):
        x = keras.layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu", name=f"decoder_up{i + 1}")(x)
    x = keras.layers.Conv2D(3, 3, padding="same", name="decoder_out")(x)
    reconstruction = keras.layers.Activation("sigmoid", name="reconstruction")(x)
    return keras.Model(encoder.input, reconstruction, name=f"{encoder.name}_autoencoder")


def reconstruction_loss() -> keras.losses.Loss:
    """Eq. (1): binary cross-entropy between input and reconstruction, averaged over every pixel and channel."""
    return keras.losses.BinaryCrossentropy()
