import math

import numpy as np
import pytest

from mathlens import encodings
from mathlens.encodings.base import decimal_parts
from mathlens.encodings.sequence import REASONS, MatrixCodec, Vocabulary
from mathlens.errors import UserError

# LAWT's spellings (docs/papers.md table)
SPELLINGS = {
    "P10": {3.14: "+ 3 1 4 E-2", -0.0271: "- 2 7 1 E-4", 0.0: "+ 0 E0", 999.5: "+ 1 0 0 E1", 1.0: "+ 1 0 0 E-2"},
    "P1000": {3.14: "+ 314 E-2", -0.0271: "- 271 E-4", 0.0: "+ 0 E0", 999.5: "+ 100 E1", 1.0: "+ 100 E-2"},
    "B1999": {3.14: "N314 E-2", -0.0271: "N-271 E-4", 0.0: "N0 E0", 999.5: "N100 E1", 1.0: "N100 E-2"},
    "FP15": {3.14: "N314e7", -0.0271: "N-271e5", 0.0: "N0e0", 999.5: "N100e10", 1.0: "N100e7"},
}


@pytest.mark.parametrize("name", SPELLINGS)
def test_lawt_spellings(name):
    enc = encodings.get(name)
    for x, want in SPELLINGS[name].items():
        assert " ".join(enc.tokens(x)) == want, (name, x)


def test_issue_example():
    assert encodings.get("P10").tokens(3.14) == ["+", "3", "1", "4", "E-2"]


@pytest.mark.parametrize("name", ["P10", "P1000", "B1999", "FP15"])
def test_vocab_sizes_and_width(name):
    enc = encodings.get(name)
    assert len(set(enc.vocab)) == len(enc.vocab)
    assert enc.width == {"P10": 5, "P1000": 3, "B1999": 2, "FP15": 1}[name]
    if name == "FP15":
        assert 28_000 < len(enc.vocab) < 30_000


def test_decimal_parts_match_printf_everywhere():
    rng = np.random.default_rng(0)
    x = rng.uniform(-10, 10, 20_000) * 10.0 ** rng.integers(-60, 60, 20_000)
    x = np.concatenate([x, [999.5, 0.5, 1.005, 2.675, 0.125, -9.995, 99.95, 1e-5, 5e-324 * 0]])
    neg, m, e = decimal_parts(x)
    for xi, ni, mi, ei in zip(x, neg, m, e):
        if xi == 0:
            assert mi == 0
            continue
        mant, ex = ("%.2e" % abs(xi)).split("e")
        assert (mi, ei) == (int(mant.replace(".", "")), int(ex) - 2), xi
        assert ni == (xi < 0)


def near_ties(exponents) -> np.ndarray:
    """Values on and one ulp either side of every rounding tie (m + 0.5) * 10^e of a 3-digit mantissa m,
    both signs: where a rounding done in floating point, not as printf does it, goes wrong."""
    ties = ((np.arange(100, 1000)[:, None] + 0.5) * 10.0 ** np.asarray(exponents)[None, :]).ravel()
    ties = ties[np.isfinite(ties)]
    x = np.concatenate([ties, np.nextafter(ties, 0), np.nextafter(ties, np.inf)])
    return np.concatenate([x, -x])


def lawt_tokens(name: str, x: float) -> str:
    """One number as LAWT writes it, with Python's own printf and arithmetic (the reference the encodings
    must match to the token)."""
    if name == "FP15":
        if abs(x) > 1e9:
            return "NaN" if x > 0 else "-NaN"
        v = abs(x) * 10**7
        if v == 0:
            return "N0e0"
        e = max(int(math.log10(v)), 0)
        m = int(v * 10 ** (2 - e) + 0.5)
        m, e = (100, e + 1) if m == 1000 else (m, e)
        if e >= 16:
            return "NaN" if x > 0 else "-NaN"
        return f"N{'-' if x < 0 and m else ''}{m}e{e}"
    mant, ex = ("%.2e" % abs(x)).split("e")
    m, e = int(mant.replace(".", "")), int(ex) - 2
    if e < -100:  # LAWT flushes to zero below E-100
        m = 0
    if m == 0:
        return {"P10": "+ 0 E0", "P1000": "+ 0 E0", "B1999": "N0 E0"}[name]
    sign = "-" if x < 0 else "+"
    if name == "P10":
        return f"{sign} {' '.join(str(m))} E{e}"
    if name == "P1000":
        return f"{sign} {m} E{e}"
    return f"N{'-' if x < 0 else ''}{m} E{e}"


@pytest.mark.parametrize("name", ["P10", "P1000", "B1999", "FP15"])
def test_values_around_rounding_ties_are_written_exactly_as_lawt(name):
    enc = encodings.get(name)
    # every FP15 exponent; for the others every fourth exponent and the flush-to-zero edge (E-100)
    x = near_ties(range(-16, 10) if name == "FP15" else [*range(-104, 100, 4), -101, -99, -98])
    x = np.concatenate([x, 10.0 ** np.arange(-9, 10), np.nextafter(10.0 ** np.arange(-9, 10), 0)])
    ids = enc.encode(x)
    got = [" ".join(enc.vocab[i] for i in row if i >= 0) for row in ids.reshape(len(x), -1)]
    wrong = [(v, g, lawt_tokens(name, v)) for v, g in zip(x, got) if g != lawt_tokens(name, v)]
    assert not wrong, f"{len(wrong)} of {len(x)} differ, e.g. {wrong[:3]}"


def test_the_tie_cases_found_in_review():
    assert " ".join(encodings.get("P10").tokens(0.09995)) == "+ 9 9 9 E-4"  # printf: 9.99e-02
    assert encodings.get("P10").tokens(9.995e-99) == ["+", "0", "E0"]  # printf 9.99e-99: below E-100, zero
    assert encodings.get("FP15").tokens(1.025) == ["N103e7"]


@pytest.mark.parametrize("name", ["P10", "P1000", "B1999"])
def test_round_trip_is_printf_rounding(name):
    enc = encodings.get(name)
    rng = np.random.default_rng(1)
    x = rng.uniform(-10, 10, (50, 40)) * 10.0 ** rng.integers(-90, 90, (50, 40))
    values, ok = enc.decode(enc.encode(x))
    assert ok.all() and values.shape == x.shape
    want = np.vectorize(lambda v: float("%.2e" % v))(x)
    np.testing.assert_allclose(values, want, rtol=1e-14)
    # decoding a decoded value again is exact: the encoding is idempotent
    again, _ = enc.decode(enc.encode(values))
    np.testing.assert_array_equal(again, values)


@pytest.mark.parametrize("name", ["P10", "P1000", "B1999"])
def test_edge_magnitudes(name):
    enc = encodings.get(name)
    assert enc.tokens(1e-120) == enc.tokens(0.0)  # below E-100: written as zero
    assert enc.tokens(-1e-120) == enc.tokens(0.0)  # ... with a plus sign
    assert enc.tokens(-0.0) == enc.tokens(0.0)
    big = enc.tokens(1.23e100)
    assert big[-1] == "E98"
    with pytest.raises(ValueError):
        enc.encode(np.array([1e104]))
    with pytest.raises(ValueError):
        enc.encode(np.array([np.inf]))
    v, ok = enc.decode(enc.encode(np.array([-7.77e-50, 123456.0])))
    assert ok.all()
    np.testing.assert_allclose(v, [-7.77e-50, 123000.0], rtol=1e-14)


def test_fp15_range_and_overflow():
    enc = encodings.get("FP15")
    assert enc.tokens(2e9) == ["NaN"] and enc.tokens(-2e9) == ["-NaN"]
    assert enc.decode(enc.encode(np.array([2e9])))[0][0] == 1e9  # LAWT: NaN reads as the limit
    assert enc.tokens(3e-8) == ["N30e0"]  # below 1e-7: fewer significant digits
    assert enc.tokens(0.0999) == ["N999e5"]
    x = np.random.default_rng(2).uniform(-1e3, 1e3, 10_000)
    v, ok = enc.decode(enc.encode(x))
    assert ok.all()
    assert np.max(np.abs(v - x) / np.abs(x)) <= 0.005


@pytest.mark.parametrize("base", [10, 1000, 7])
def test_integers_round_trip(base):
    enc = encodings.get("int", base=base)
    x = np.array([0, 1, -1, base - 1, base, -base * base - 3, 123456789, -987654321])
    v, ok = enc.decode(enc.encode(x))
    assert ok.all()
    np.testing.assert_array_equal(v, x)
    assert encodings.get("int10").tokens(-120) == ["-", "1", "2", "0"]
    assert encodings.get("int1000").tokens(1234567) == ["+", "1", "234", "567"]


@pytest.mark.parametrize("name", ["P10", "P1000", "B1999", "FP15", "int10"])
def test_decode_never_raises_on_garbage(name):
    enc = encodings.get(name)
    rng = np.random.default_rng(3)
    ids = rng.integers(-1, len(enc.vocab), size=(2000, enc.width))
    values, ok = enc.decode(ids)
    assert values.shape == ok.shape == (2000,)
    assert np.all(np.isnan(values[~ok]))
    if name != "FP15":  # in FP15 every single token is a number
        assert (~ok).any()


def test_unknown_encoding_suggests():
    with pytest.raises(UserError, match="P1000"):
        encodings.get("P100")


def _codec(name, max_dim=6):
    enc = encodings.get(name)
    vocab = Vocabulary([enc], max_dim=max_dim)
    return MatrixCodec(enc, vocab), vocab


@pytest.mark.parametrize("name", ["P10", "P1000", "B1999", "FP15"])
def test_matrix_round_trip_with_zeros(name):
    codec, vocab = _codec(name)
    m = np.random.default_rng(4).uniform(-10, 10, (30, 3, 4))
    m[::3, 1, 2] = 0.0  # P10 writes zero with fewer tokens: rows of different lengths
    ids, lengths = codec.encode(m)
    assert vocab.strings(ids[0][:2]) == ["V3", "V4"]
    gen = np.concatenate([ids, np.full((30, 1), vocab.pad_id)], 1)
    gen[np.arange(30), lengths] = vocab.eos_id
    values, reason = codec.decode(gen, (3, 4))
    assert (reason == 0).all()
    np.testing.assert_allclose(values, m, rtol=0.005)
    if name == "P10":
        assert len(set(lengths)) == 2


def test_matrix_decode_reasons():
    codec, vocab = _codec("P1000")
    m = np.ones((1, 2, 2))
    ids, _ = codec.encode(m)
    good = list(ids[0]) + [vocab.eos_id]
    eos = vocab.eos_id
    cases = {
        "ok": good,
        "no_eos": good[:-1],
        "bad_header": [vocab.index["+"]] + good[1:],
        "wrong_shape": [vocab.index["V3"]] + good[1:],
        "wrong_count": good[:2] + good[5:],
        "bad_number": good[:2] + [vocab.index["+"], vocab.index["E3"], vocab.index["100"]] + good[5:],
    }
    width = max(map(len, cases.values()))
    batch = np.array([c + [vocab.pad_id if name == "no_eos" else eos] * (width - len(c))
                      for name, c in cases.items()])
    values, reason = codec.decode(batch, (2, 2))
    assert [REASONS[r] for r in reason] == list(cases)
    assert np.isnan(values[1:]).all() and np.allclose(values[0], 1.0)
    # a token of another encoding inside the body
    other = Vocabulary([encodings.get("P1000"), encodings.get("B1999")], max_dim=3)
    codec2 = MatrixCodec(encodings.get("P1000"), other)
    ids2, _ = codec2.encode(m)
    row = list(ids2[0]) + [other.eos_id]
    row[3] = other.index["N5"]
    _, reason = codec2.decode(np.array([row]), (2, 2))
    assert REASONS[reason[0]] == "bad_token"
