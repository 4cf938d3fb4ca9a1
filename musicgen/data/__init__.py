"""Datasets: the storage contract, streaming Parquet shards of note tensors, text tunes, bundled corpora."""
