import numpy as np
import pytest

from mathlens import encodings, tasks
from mathlens.errors import UserError

TASKS = ["transpose", "matrix_sum", "matrix_vector", "matrix_product"]
SHAPES = [dict(rows=5), dict(rows=3, cols=4), dict(rows=[2, 4], cols=[3, 5])]


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("shape", SHAPES)
def test_exact_passes_perturbed_fails(name, shape):
    task = tasks.get(name, **shape)
    rng = np.random.default_rng(0)
    p = task.sample(10_000, rng)
    target = task.target_matrix(p)
    err = task.verify(p, target)
    assert np.all(err == 0)
    # the target written with 3 significant digits still passes at the finest tolerance
    enc = encodings.get("P1000")
    rounded, ok = enc.decode(enc.encode(target))
    assert ok.all() and np.all(task.verify(p, rounded) < 0.005)
    # 10% off on every coefficient fails at 5%
    signs = rng.choice([-1.0, 1.0], size=target.shape)
    assert np.all(task.verify(p, target * (1 + 0.1 * signs)) >= 0.05)


@pytest.mark.parametrize("name", TASKS)
def test_missing_or_misshaped_prediction_is_inf(name):
    task = tasks.get(name, rows=3)
    p = task.sample(4, np.random.default_rng(1))
    t = task.target_matrix(p).copy()
    t[1, 0, 0] = np.nan
    err = task.verify(p, t)
    assert np.isinf(err[1]) and np.all(err[[0, 2, 3]] == 0)
    assert np.all(np.isinf(task.verify(p, np.zeros((4, 7, 7)))))


def test_task_semantics_follow_lawt():
    rng = np.random.default_rng(2)
    t = tasks.get("matrix_product", rows=3, cols=2)
    p = t.sample(5, rng)
    a, b = p["input"][:, :, :2], p["input"][:, :, 2:]
    np.testing.assert_allclose(t.target_matrix(p), np.swapaxes(a, 1, 2) @ b)
    t = tasks.get("matrix_vector", rows=3, cols=2)
    p = t.sample(5, rng)
    assert p["input"].shape == (5, 3, 3) and t.target_matrix(p).shape == (5, 2, 1)
    t = tasks.get("matrix_sum", rows=3, cols=2)
    p = t.sample(5, rng)
    np.testing.assert_allclose(t.target_matrix(p), p["input"][:, :, :2] + p["input"][:, :, 2:])
    t = tasks.get("transpose", rows=3, cols=2)
    assert t.target_matrix(t.sample(5, rng)).shape == (5, 2, 3)


def test_dimension_ranges_draw_one_shape_per_batch():
    t = tasks.get("transpose", rows=[2, 6], cols=[3, 4])
    rng = np.random.default_rng(3)
    shapes = {t.sample(8, rng)["input"].shape for _ in range(60)}
    assert {s[1] for s in shapes} == {2, 3, 4, 5, 6} and {s[2] for s in shapes} == {3, 4}
    assert t.max_dim == 6


@pytest.mark.parametrize("coeffs", ["uniform", "gaussian"])
def test_coefficient_distributions(coeffs):
    t = tasks.get("transpose", rows=5, coeffs=coeffs, max_coeff=10)
    x = t.sample(20_000, np.random.default_rng(4))["input"]
    assert abs(x.std() - 10 / np.sqrt(3)) < 0.05  # same spread either way
    if coeffs == "uniform":
        assert np.abs(x).max() <= 10
    else:
        assert np.abs(x).max() > 15  # gaussian really is gaussian (LAWT's silently drew uniform)


def test_seeded_sampling_is_reproducible():
    t = tasks.get("matrix_sum", rows=4)
    a = t.sample(3, np.random.default_rng(7))["input"]
    b = t.sample(3, np.random.default_rng(7))["input"]
    np.testing.assert_array_equal(a, b)


def test_features_have_one_value_per_problem():
    t = tasks.get("matrix_product", rows=4)
    f = t.features(t.sample(6, np.random.default_rng(8)))
    assert f and all(v.shape == (6,) for v in f.values())


def test_bad_task_options():
    with pytest.raises(UserError, match="did you mean 'transpose'"):
        tasks.get("transpos")
    with pytest.raises(UserError, match="task.rws"):
        tasks.get("transpose", rws=3)
    with pytest.raises(UserError, match="task.coeffs"):
        tasks.get("transpose", coeffs="cauchy")
