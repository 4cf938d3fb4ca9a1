"""`mg.zoo`: model families by name."""
