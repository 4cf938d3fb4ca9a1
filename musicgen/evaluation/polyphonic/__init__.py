"""The polyphonic-music benchmark (JSB Chorales, Nottingham, MuseData, Piano-midi.de).

loaders (the .mat and pickled-dict files) → conversion (rolls → NoteBatch) → run (the
train/valid/test protocol, tracked in MLflow) → nll (the published metric) → report (the table
next to the published numbers, and a plot). markov is the trivial floor every model must beat.
"""
