"""Framework-free training, shared by both model families (Keras and PyTorch), which build on it.

- :mod:`.loop`: the epoch loop (:func:`~medinterp.training.loop.fit` over a family's
  :class:`~medinterp.training.loop.Trainable`): best epoch kept, early stopping, ReduceLROnPlateau,
  dvclive curves;
- :mod:`.resume`: an interrupted training continued from the end of its last completed epoch
  (``.resume/<stage>/<run>.pkl``, used only while its fingerprint matches);
- :mod:`.augment`: the random draws of the thesis's training augmentation, taken once for both
  families, which apply them with their own ops;
- :mod:`.class_weights`: the loss's class weights for imbalanced training sets (``balanced``,
  ``by_frequency_rank``);
- :mod:`.classifier`: an ISIC classifier's training as the stages see it, whatever the family: it
  takes the run's data (:class:`~medinterp.training.classifier.TrainingData`: the training rows of
  images, typically memory-mapped, with their labels; the validation images and labels) with the
  architecture, task settings, class names and weights, seed and resume file, and gives a
  :class:`~medinterp.training.classifier.Trained` (the fit's history and best epoch, the class
  weights, training images/s, the initialisation really used, ``predict`` and ``save``), whose
  checkpoint both families describe in the same words
  (:func:`~medinterp.training.classifier.checkpoint_info`).
"""
