"""Models and data made elsewhere: GPT checkpoints imported as runs (checkpoints.py), problems written to files
for other training stacks (data.py; reading them back: pipelines/datafile.py)."""
