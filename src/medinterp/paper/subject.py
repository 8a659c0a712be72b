"""A paper classifier as the subject of the thesis's interpretation methods (stage ``interpret_paper``):
the classifier ``paper_classifier`` trained for a backbone and variant, the network its training
started from, and the BreakHis validation images, in either family."""

from __future__ import annotations

import json

from medinterp.errors import ConfigError
from medinterp.interpret.adapter import ModelAdapter
from medinterp.interpret.image_sets import Subject
from medinterp.interpret.layout import paper_subject
from medinterp.paper import artifacts, data
from medinterp.paper.networks import networks_for
from medinterp.paper.training import start_from
from medinterp.params import VARIANTS, Params


def paper_classifier_subject(params: Params, backbone: str, variant: str) -> tuple[Subject, ModelAdapter]:
    """The subject and the adapter of its starting network: the encoder the variant started from
    (the autoencoder's, or the ImageNet / seeded random backbone) under the seeded initial head."""
    spec, s = params.paper_for(backbone)
    if variant not in s.variants:
        raise ConfigError(
            f"interpret.paper.variants: {variant!r} is not in paper.variants {list(s.variants)}, "
            "so paper_classifier did not train it"
        )
    nets = networks_for(spec)
    nets.configure(params.seed)
    _, val = data.breakhis(s.image_size)

    def network():  # built in the training stage's order, so the seeded initial weights are the same
        encoder, _ = nets.build_encoder(spec, s.image_size, "random")
        nets.set_batchnorm_momentum(encoder, s.batchnorm_momentum)
        return encoder, nets.build_classifier(encoder, s.classifier.head_units, s.classifier.dropout)

    encoder, start = network()
    chosen = VARIANTS[variant]
    if chosen.autoencoder:
        nets.load_weights(encoder, artifacts.encoder_path(backbone, s.encoder_tag(chosen), nets.weights_suffix))
    else:
        start_from(nets, start, nets.get_weights(start), encoder, spec, s.image_size, s.init_for(chosen.weights))
    _, trained = network()
    weights = artifacts.classifier_path(backbone, variant, nets.weights_suffix)
    nets.load_weights(trained, weights)
    meta = json.loads(artifacts.classifier_path(backbone, variant, ".json").read_text(encoding="utf-8"))
    subject = Subject(
        paper_subject(backbone, variant),
        spec.name,
        spec.family,
        meta["init_used"],
        list(artifacts.CLASS_NAMES),
        s.image_size,
        val,
        nets.adapter(trained, s.image_size),
        str(weights),
        (spec.first_conv_layer, spec.last_conv_layer),
    )
    return subject, nets.adapter(start, s.image_size)
