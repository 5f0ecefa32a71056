import pytest
import torch

from mathlens.config import ModelConfig
from mathlens.models import Seq2Seq, greedy


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = ModelConfig(enc_layers=2, dec_layers=2, d_model=32, n_heads=4, **kw)
    return Seq2Seq(cfg, vocab_size=40, max_src_len=30, max_tgt_len=30).eval()


def test_cached_and_uncached_greedy_agree():
    # untied: a tied random model just repeats its last input token
    model = _model(share_embeddings=False)
    src = torch.randint(2, 40, (16, 12))
    src[3, 9:] = 0  # padded source rows take the masked path
    a = greedy(model, src, 20, bos_id=1, eos_id=39, use_cache=True)
    b = greedy(model, src, 20, bos_id=1, eos_id=39, use_cache=False)
    assert a.shape == b.shape
    assert torch.equal(a, b)
    assert len(torch.unique(a)) > 3


def test_incremental_logits_match_teacher_forcing():
    model = _model(1)
    src = torch.randint(2, 40, (4, 10))
    tgt = torch.randint(2, 40, (4, 8))
    full = model(src, tgt)
    memory, mask = model.encode(src)
    caches = model.new_caches(4, 8, src.device, memory.dtype)
    steps = [model.decode(tgt[:, t : t + 1], memory, mask, start=t, caches=caches) for t in range(8)]
    torch.testing.assert_close(torch.cat(steps, 1), full, rtol=1e-4, atol=1e-5)


def test_padding_does_not_change_unpadded_rows():
    model = _model(2)
    src = torch.randint(2, 40, (2, 10))
    tgt = torch.randint(2, 40, (2, 5))
    padded = torch.cat([src, torch.zeros(2, 3, dtype=torch.long)], 1)
    torch.testing.assert_close(model(src, tgt), model(padded, tgt), rtol=1e-4, atol=1e-5)


def test_hook_points_have_stable_names_and_patch():
    model = _model(3)
    names = model.hook_points()
    for n in ["encoder.hook_embed", "encoder.hook_pos_embed", "encoder.blocks.0.attn.hook_pattern",
              "encoder.blocks.1.hook_resid_post", "decoder.blocks.0.cross_attn.hook_pattern",
              "decoder.blocks.1.mlp.hook_post", "decoder.hook_resid_final"]:
        assert n in names, n
    src = torch.randint(2, 40, (3, 9))
    tgt = torch.randint(2, 40, (3, 6))
    base = model(src, tgt)
    seen = {}
    hook = names["decoder.blocks.0.attn.hook_pattern"].register_forward_hook(lambda m, i, o: seen.setdefault("p", o))
    with_pattern = model(src, tgt)
    hook.remove()
    torch.testing.assert_close(with_pattern, base, rtol=1e-4, atol=1e-5)  # explicit softmax path == sdpa
    p = seen["p"]
    assert p.shape == (3, 4, 6, 6)
    torch.testing.assert_close(p.sum(-1), torch.ones(3, 4, 6))
    assert torch.all(p.triu(1) == 0)  # causal
    # patching: zero the encoder output stream, the logits change
    h = names["encoder.hook_resid_final"].register_forward_hook(lambda m, i, o: torch.zeros_like(o))
    patched = model(src, tgt)
    h.remove()
    assert not torch.allclose(patched, base)


def test_shared_embeddings_are_tied():
    m = _model()
    assert m.unembed.weight is m.embed.weight
    m2 = _model(share_embeddings=False)
    assert m2.unembed.weight is not m2.embed.weight


def test_too_long_sequence_is_a_clear_error():
    m = _model()
    with pytest.raises(ValueError, match="positions"):
        m(torch.ones(1, 31, dtype=torch.long), torch.ones(1, 2, dtype=torch.long))


def test_capture_reads_named_activations_and_removes_its_hooks():
    from mathlens.errors import UserError
    from mathlens.models.cache import capture, hook_points

    model = Seq2Seq(ModelConfig(enc_layers=1, dec_layers=1, d_model=16, n_heads=2), 30, 12, 12).eval()
    src, tgt = torch.randint(2, 30, (3, 7)), torch.randint(2, 30, (3, 5))
    names = ["encoder.hook_embed", "decoder.blocks.0.cross_attn.hook_pattern"]
    with capture(model, names) as cache:
        model(src, tgt)
    assert torch.equal(cache["encoder.hook_embed"], model.embed(src))
    assert cache["decoder.blocks.0.cross_attn.hook_pattern"].shape == (3, 2, 5, 7)  # computed because hooked
    assert not any(p._forward_hooks for p in hook_points(model).values())
    with pytest.raises(UserError, match=r"--hook: 'nowhere' is not a hook point"):
        with capture(model, ["nowhere"], where="--hook"):
            pass
