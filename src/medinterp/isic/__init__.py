"""The thesis's ISIC classification tasks, free of any framework: settings, the binary task's
cross-validation, prediction tables and the metrics reports. A family (``models.torch``,
``models.keras``: their ``isic_classifier`` modules) supplies the training, on the framework-free
pieces of :mod:`medinterp.training.classifier`."""
