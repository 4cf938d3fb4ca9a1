"""Models: the protocol every zoo family implements, the registry, shared layers and heads, saving and loading."""
