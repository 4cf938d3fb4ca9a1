"""Generation: incremental sampling of note and text families, and writing what they make (MIDI, PNG, WAV)."""
