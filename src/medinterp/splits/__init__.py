"""Train/validation/test splits: stratified by class, grouped by slide, patient or lesion, seeded."""
