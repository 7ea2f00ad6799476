"""What several commands share and no command owns: the training loop's parts (metrics, timing,
spec overrides, thread counts, flush-to-zero), the machine's description, ``--config`` files."""
