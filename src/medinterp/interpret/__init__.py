"""Framework-free interpretability methods (Grad-CAM, Otsu + IRA, class-specific filters, z-score
outliers, feature visualization, sanity checks). Each talks to a model only through a
:class:`medinterp.interpret.adapter.ModelAdapter`, which each family implements once."""
