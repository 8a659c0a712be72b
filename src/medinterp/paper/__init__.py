"""The paper's experiment (autoencoder pre-training, three classifier variants, Grad-CAM + Otsu + IRA
on BreCaHAD): its settings, data, evaluation and figures, for the ``paper_*`` stages."""
