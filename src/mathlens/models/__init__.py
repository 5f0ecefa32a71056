"""Models: layers with hook points, the seq2seq and decoder-only transformers, decoding."""

from .decoder import Decoder
from .decoding import greedy
from .layers import Attention, Block, HookPoint
from .seq2seq import Seq2Seq

__all__ = ["Attention", "Block", "Decoder", "HookPoint", "Seq2Seq", "greedy"]
