"""Training: the run config, the data side, the loop, checkpoints, distributed processes, end-of-run samples."""
