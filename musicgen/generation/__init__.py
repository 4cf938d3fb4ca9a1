"""Generation: incremental sampling of note and text families, and writing what they make (MIDI, PNG, WAV)."""

# The share of probability mass sampling keeps unless told otherwise (`--top-p`), for every
# command that samples (generate, evaluate, the served model, train's end-of-run pieces). The
# last tenth of the mass is where an undertrained model keeps its wrong notes: a 20-minute
# folk model samples scale consistency 0.930 at 1.0 and 0.965 at 0.9 (the data: 0.988;
# benchmarks/RESULTS-music.md). 1.0 samples the model's own distribution.
DEFAULT_TOP_P = 0.9
