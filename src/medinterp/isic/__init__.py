"""The thesis's ISIC classification tasks, free of any framework: settings, the binary task's
cross-validation, prediction tables and the metrics reports. A family (``models.torch``) supplies
the training."""
