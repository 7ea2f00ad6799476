"""rnnbench's harness: CLI, training loop, timing, metrics, result records and reports.

Importing this package (or ``harness.cli``) needs only the standard library, so the CLI can parse a
command and hand it to a backend's tox environment on a machine that has nothing but Python and tox.
"""
