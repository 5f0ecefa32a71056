"""Analyses that read records, checkpoints and activations: fourier (modular arithmetic), ..."""
