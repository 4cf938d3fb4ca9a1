"""Speed and memory measurements, run by `make bench`; never timed tests."""
