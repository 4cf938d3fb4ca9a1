"""Evaluation: likelihood on a split, musical statistics, and the polyphonic-music benchmark protocol."""
