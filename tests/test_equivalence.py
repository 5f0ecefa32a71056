import numpy as np
import pytest

from mathlens.analysis.equivalence import explain


def _ood(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1000, 10000, n), rng.integers(1000, 10000, n)


@pytest.mark.parametrize("op,relation,f", [
    ("add", "(a mod 10^3) + (b mod 10^3)", lambda a, b: a % 1000 + b % 1000),
    ("mul", "(a mod 10^2) * (b mod 10^2)", lambda a, b: (a % 100) * (b % 100)),
    ("add", "(a + b) mod 10^4", lambda a, b: (a + b) % 10**4),
])
def test_known_relation_ranks_first_with_share_one(op, relation, f):
    a, b = _ood()
    table = explain(a, b, f(a, b), op, id_digits=3)
    assert table.iloc[0]["relation"] == relation and table.iloc[0]["share"] == 1.0
    assert table.iloc[1]["share"] < 1.0  # no other candidate explains every output


def test_true_result_first_among_equivalent_forms():
    a, b = _ood()
    table = explain(a, b, a - b, "sub", id_digits=3)
    assert table.iloc[0]["relation"] == "a - b"  # (a mod 10^4) - (b mod 10^4) is the same here; simplest first


def test_noisy_outputs_still_rank_the_relation_first():
    a, b = _ood(seed=1)
    out = (a % 1000 + b % 1000).astype(float)
    rng = np.random.default_rng(2)
    noisy = rng.random(len(out)) < 0.1
    out[noisy] = rng.integers(0, 20000, noisy.sum())
    out[:5] = np.nan  # outputs that did not decode match nothing
    table = explain(a, b, out, "add", id_digits=3)
    assert table.iloc[0]["relation"] == "(a mod 10^3) + (b mod 10^3)"
    assert 0.88 < table.iloc[0]["share"] < 0.92


def test_extra_candidates_and_bad_op():
    a, b = _ood(50)
    twin = a % 1000 + b % 1000 + 1
    table = explain(a, b, twin, "add", 3, extra={"model on the reduced twin": twin})
    assert table.iloc[0]["relation"] == "model on the reduced twin"
    with pytest.raises(ValueError, match="op must be one of add, sub, mul"):
        explain(a, b, twin, "div", 3)
