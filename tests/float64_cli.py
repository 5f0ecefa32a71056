"""`python tests/float64_cli.py ARGS`: the `mathlens` command with float64 as torch's default dtype, so that a
model is built, trained and saved in float64 (tests/test_distributed.py runs it under torchrun)."""

import sys

if __name__ == "__main__":  # importing this file (pytest's doctest collection) changes nothing
    import torch

    torch.set_default_dtype(torch.float64)
    from mathlens.cli import main

    sys.exit(main())
