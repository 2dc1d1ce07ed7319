"""Hyperparameter search on Ray Tune: every trial is the package's one pipeline, reporting each epoch."""
