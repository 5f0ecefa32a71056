"""The encoder-decoder transformer of LAWT, readable in one sitting.

Token embeddings are shared by encoder, decoder and output layer (LAWT), positions are learned, blocks are
pre-LayerNorm. Hook points (names as in ``dict(model.named_modules())``):
``encoder.hook_embed``, ``encoder.hook_pos_embed``, ``encoder.blocks.{i}.attn.hook_pattern``, ...,
``decoder.blocks.{i}.cross_attn.hook_pattern``, ``decoder.hook_resid_final``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..encodings.sequence import FIRST_PLACE
from .cache import hook_points
from .layers import Block, HookPoint


class EntryPositions(nn.Module):
    """2-D positions of a matrix's tokens: learned embeddings of the entry's row, its column and the token's place
    in the number, summed (header and prefix tokens have one embedding each). Input: the codec's Source.place
    codes (B, S); output (B, S, d). The same entry has the same position whatever the lengths of the numbers
    before it, and a larger matrix reuses the smaller one's rows and columns."""

    def __init__(self, max_dim: int, width: int, d_model: int):
        super().__init__()
        self.max_dim, self.width = max_dim, width
        self.special = nn.Embedding(FIRST_PLACE, d_model)
        self.row, self.col = nn.Embedding(max_dim, d_model), nn.Embedding(max_dim, d_model)
        self.slot = nn.Embedding(width, d_model)

    def forward(self, place):
        q = (place - FIRST_PLACE).clamp(min=0)
        entry, slot = q // self.width, q % self.width
        body = self.row(entry // self.max_dim) + self.col(entry % self.max_dim) + self.slot(slot)
        return torch.where((place < FIRST_PLACE)[..., None], self.special(place.clamp(max=FIRST_PLACE - 1)), body)


class RowReader(nn.Module):
    """One token per matrix row: the row's numbers (already divided by model.number_scale) times one learned
    vector per column, summed, plus a bias; the encoder adds the row's learned position. Input (B, R, C) floats,
    output (B, R, d). A wider matrix only adds column vectors, so a 6x6 model can start from a 5x5 one's."""

    def __init__(self, max_cols: int, d_model: int):
        super().__init__()
        self.col = nn.Embedding(max_cols, d_model)  # row c of the table: what column c's number is worth
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, rows):
        return rows.to(self.col.weight.dtype) @ self.col.weight[: rows.shape[-1]] + self.bias


class Stack(nn.Module):
    """Positions + blocks + final LayerNorm; the encoder or the decoder.

    ``places`` = (max_dim, width): 2-D positions (:class:`EntryPositions`, read from ``place`` codes) instead
    of a flat learned table.
    """

    def __init__(self, n_layers, d_model, n_heads, d_ff, max_len, dropout, cross, places=None):
        super().__init__()
        self.pos = nn.Embedding(max_len, d_model) if places is None else EntryPositions(*places, d_model)
        self.max_len = max_len
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff, dropout, cross) for _ in range(n_layers))
        self.ln_final = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.hook_embed, self.hook_pos_embed, self.hook_resid_final = HookPoint(), HookPoint(), HookPoint()

    def forward(self, tok_emb, start=0, place=None, **kw):
        T = tok_emb.shape[1]
        if start + T > self.max_len:
            raise ValueError(f"sequence of {start + T} tokens exceeds the {self.max_len} learned positions")
        if isinstance(self.pos, EntryPositions):
            if place is None:
                raise ValueError("2-D positions need the place of every token (the pipeline's Source)")
            pos = self.hook_pos_embed(self.pos(place))
        else:
            pos = self.hook_pos_embed(self.pos.weight[start : start + T])
        x = self.drop(self.hook_embed(tok_emb) + pos)
        caches = kw.pop("caches", None)
        for i, block in enumerate(self.blocks):
            x = block(x, cache=None if caches is None else caches[i], **kw)
        return self.hook_resid_final(self.ln_final(x))


class Seq2Seq(nn.Module):
    """Encoder-decoder transformer.

    LAWT's model reads and writes tokens. ``cfg.reader = "rows"`` reads the input as (B, R, C) numbers instead,
    one encoder token per row (:class:`RowReader`); ``cfg.head = "numbers"`` writes the answer as numbers: one
    learned query per output number goes through the decoder's blocks (no causal mask, no tokens) and a linear
    head gives its value, so ``forward(src, n_out=K)`` returns (B, K) numbers (divided by model.head_scale).

    Parameters
    ----------
    cfg : ModelConfig
    vocab_size : int
    max_src_len, max_tgt_len : int
        Learned position tables (rows of the input with the row reader; output numbers with the number head);
        the target length counts the start token.
    pad_id : int
        Padding id of source sequences (masked out of attention).
    max_cols : int
        Row reader: the widest input row.

    Example
    -------
    >>> from mathlens.config import ModelConfig
    >>> m = Seq2Seq(ModelConfig(d_model=32, n_heads=4), vocab_size=50, max_src_len=20, max_tgt_len=20)
    >>> m(torch.ones(2, 7, dtype=torch.long), torch.ones(2, 5, dtype=torch.long)).shape
    torch.Size([2, 5, 50])
    """

    def __init__(self, cfg, vocab_size: int, max_src_len: int, max_tgt_len: int, pad_id: int = 0,
                 places: tuple[int, int] | None = None, max_cols: int = 0):
        super().__init__()
        d, d_ff = cfg.d_model, cfg.d_ff or 4 * cfg.d_model
        self.pad_id = pad_id
        self.max_src_len, self.max_tgt_len = max_src_len, max_tgt_len
        rows, numbers = getattr(cfg, "reader", "tokens") == "rows", getattr(cfg, "head", "tokens") == "numbers"
        self.reader = RowReader(max_cols, d) if rows else None
        if not (rows and numbers):  # a model that reads and writes numbers has no tokens at all
            self.embed = nn.Embedding(vocab_size, d)
        two_d = getattr(cfg, "src_positions", "flat") == "2d"
        if two_d and places is None:
            raise ValueError("model.src_positions = 2d needs places=(max_dim, width)")
        self.encoder = Stack(cfg.enc_layers, d, cfg.n_heads, d_ff, max_src_len, cfg.dropout, cross=False,
                             places=places if two_d else None)
        self.decoder = Stack(cfg.dec_layers, d, cfg.n_heads, d_ff, max_tgt_len, cfg.dropout, cross=True)
        if numbers:
            self.head = nn.Linear(d, 1)
        else:
            self.unembed = nn.Linear(d, vocab_size, bias=False)
        self.apply(self._init)
        if cfg.share_embeddings and not numbers:
            self.unembed.weight = self.embed.weight

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    @property
    def writes_numbers(self) -> bool:
        return hasattr(self, "head")

    def source_mask(self, src):
        """(B, 1, 1, S) "may attend" mask, or None when no source token is padding (the fast path)."""
        if self.reader is not None:  # rows: every row is read
            return None
        pad = src == self.pad_id
        if not bool(pad.any()):
            return None
        return (~pad)[:, None, None, :]

    def encode(self, src, place=None, multiplier=None):
        """src (B, S) ids -> (memory (B, S, d), mask). ``place`` (B, S): the tokens' places in the matrix (2-D
        positions); ``multiplier`` (B, S): each token embedding's factor (xVal: the number's value)."""
        mask = self.source_mask(src)
        tok = self.embed(src) if self.reader is None else self.reader(src)
        if multiplier is not None:
            tok = tok * multiplier[..., None].to(tok.dtype)
        return self.encoder(tok, place=place, self_mask=mask), mask

    def decode(self, tgt_in, memory, memory_mask, start=0, caches=None):
        x = self.decoder(self.embed(tgt_in), start=start, causal=True, memory=memory, memory_mask=memory_mask,
                         caches=caches)
        return self.unembed(x)

    def numbers(self, memory, memory_mask, n_out: int):
        """The number head: (B, n_out) numbers read from the encoder's memory by the first n_out queries."""
        queries = memory.new_zeros(memory.shape[0], n_out, memory.shape[-1])  # the decoder adds each one's position
        return self.head(self.decoder(queries, memory=memory, memory_mask=memory_mask))[..., 0]

    def forward(self, src, tgt_in=None, place=None, multiplier=None, n_out: int | None = None):
        """Teacher-forced logits: src (B, S), tgt_in (B, T) -> (B, T, vocab) (place, multiplier: see encode);
        with the number head, (B, n_out) numbers (tgt_in unused)."""
        memory, mask = self.encode(src, place, multiplier)
        if self.writes_numbers:
            return self.numbers(memory, mask, n_out)
        return self.decode(tgt_in, memory, mask)

    def new_caches(self, batch: int, max_len: int, device, dtype):
        """Empty KV caches for incremental decoding of up to ``max_len`` target tokens."""
        d0 = self.decoder.blocks[0].attn
        shape = (batch, d0.n_heads, max_len, d0.d_head)
        return [{"self": {"k": torch.empty(shape, device=device, dtype=dtype),
                          "v": torch.empty(shape, device=device, dtype=dtype), "n": 0},
                 "cross": {}} for _ in self.decoder.blocks]

    def hook_points(self) -> dict[str, HookPoint]:
        return hook_points(self)
