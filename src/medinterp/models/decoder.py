"""The paper's decoder rule (section 3.2, Fig. 1), once for both families: how many stride-2
transposed convolutions take the encoder's feature map back to the input size, and their widths.

Where a backbone halves the image a whole number of times (the paper's five at 128 px), one
transposed convolution per halving gives the input size back exactly; the widths start at
``filters`` and halve at each further step, never below :data:`MIN_FILTERS`. Each family then
adds a 3x3 convolution to three channels and a sigmoid.
"""

from __future__ import annotations

import math

from medinterp.errors import ConfigError

MIN_FILTERS = 16


def decoder_widths(backbone: str, image_size: int, feature_size: int, filters: int) -> list[int]:
    """The widths of the decoder's transposed convolutions for an encoder that maps
    ``image_size`` px to a ``feature_size`` px feature map; a reduction that is not a power of
    two (or none) cannot be undone by stride-2 steps and is refused."""
    steps = math.log2(image_size / feature_size) if feature_size > 0 else 0.5
    if not steps.is_integer() or steps < 1:
        raise ConfigError(
            f"{backbone} maps {image_size}px to a {feature_size}px feature map, not a power-of-two "
            f"reduction, so the autoencoder's stride-2 decoder cannot rebuild the input: "
            f"choose another paper.image_size"
        )
    return [max(MIN_FILTERS, filters >> i) for i in range(int(steps))]
