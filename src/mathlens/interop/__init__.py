"""Models and data made elsewhere: GPT checkpoints imported as runs (checkpoints.py)."""
