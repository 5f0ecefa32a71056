"""Models: layers with hook points, the seq2seq transformer, decoding."""

from .decoding import greedy
from .layers import Attention, Block, HookPoint
from .seq2seq import Seq2Seq

__all__ = ["Attention", "Block", "HookPoint", "Seq2Seq", "greedy"]
