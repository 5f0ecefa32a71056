import numpy as np
import pytest

from mathlens.tasks import get

SPECTRAL = ["eigenvalues", "eigenvectors", "invert_matrix", "syminverse", "singularvalues", "singularvectors"]
N = 10_000


@pytest.mark.parametrize("norm", ["d1", "d2", "dinf"])
@pytest.mark.parametrize("name", SPECTRAL)
def test_exact_answers_verify_and_perturbed_ones_do_not(name, norm):
    task = get(name, rows=4, norm=norm)
    rng = np.random.default_rng(0)
    problems = task.sample(N, rng)
    exact = task.target_matrix(problems)
    assert exact.shape[1:] == task.output_shape(problems)
    assert (task.verify(problems, exact) < 0.005).all()
    noise = 0.5 if norm == "d2" else 0.05  # d2 is a squared ratio: 0.005 there is a 7% Frobenius error
    perturbed = exact * (1 + noise * rng.standard_normal(exact.shape))  # relative noise on every number
    assert np.mean(task.verify(problems, perturbed) >= 0.005) > 0.99
    missing = exact.copy()
    missing[:10] = np.nan  # did not decode
    assert np.isinf(task.verify(problems, missing)[:10]).all()
    assert np.isinf(task.verify(problems, exact[:, :-1])).all()  # wrong shape


def test_eigen_checks_use_the_matrix_not_a_target():
    task = get("eigenvectors", rows=3)
    problems = task.sample(500, np.random.default_rng(1))
    exact = task.target_matrix(problems)
    flipped = exact.copy()
    flipped[:, 1:, 0] *= -1  # an eigenvector's sign is free
    flipped[:, :, [0, 2]] = flipped[:, :, [2, 0]]  # and so is the order of the pairs
    assert (task.verify(problems, flipped) < 1e-9).all()


def test_rectangular_svd_and_symmetric_distributions():
    task = get("singularvectors", rows=3, cols=5)
    problems = task.sample(200, np.random.default_rng(2))
    exact = task.target_matrix(problems)
    assert exact.shape == (200, 1 + 3 + 5, 3) and (task.verify(problems, exact) < 1e-9).all()
    for dist in ("positive", "marcenko"):
        m = get("eigenvalues", rows=4, distribution=dist).sample(100, np.random.default_rng(3))["input"]
        assert (np.linalg.eigvalsh(m) > -1e-9).all()


def test_singular_vectors_are_checked_as_lawt_does():
    task = get("singularvectors", rows=4)
    p = task.sample(200, np.random.default_rng(4))
    exact = task.target_matrix(p)
    # U = M, S = 1, V = I satisfies U S V^T = M but is no SVD: LAWT's ||U^T M V - S|| / ||S|| rejects it
    fake = np.concatenate([np.ones((200, 1, 4)), p["input"], np.broadcast_to(np.eye(4), (200, 4, 4))], axis=1)
    assert (task.verify(p, exact) < 1e-9).all()
    assert (task.verify(p, fake) > 1).all()
    assert np.isinf(task.verify(p, np.zeros_like(exact))).all()  # all zero: 0/0 is rejected
    assert np.isinf(get("eigenvectors", rows=4).verify(p, np.zeros((200, 5, 4)))).all()


@pytest.mark.parametrize("name", ["eigenvalues", "singularvalues"])
def test_values_written_in_the_wrong_order_are_wrong(name):
    task = get(name, rows=4)
    p = task.sample(500, np.random.default_rng(5))
    exact = task.target_matrix(p)
    assert (task.verify(p, exact) == 0).all()
    assert (task.verify(p, exact[:, ::-1]) > 0.05).mean() > 0.99  # the right values, increasing: LAWT says wrong
    props = task.properties(p, exact[:, ::-1])
    if props:
        assert (props["values in any order"] == 0).all() and (props["sorted"] == 1).all()


def test_norms_are_lawts_d1_d2_dinf():
    rng = np.random.default_rng(6)
    task = {norm: get("matrix_product", rows=3, norm=norm) for norm in ("d1", "d2", "dinf")}
    p = task["d1"].sample(100, rng)
    true = task["d1"].target_matrix(p)
    wrong = true + 0.1 * true * rng.choice([-1, 1], size=true.shape)  # every entry 10% off
    assert task["d1"].verify(p, wrong) == pytest.approx(np.full(100, 0.1))
    assert task["d2"].verify(p, wrong) == pytest.approx(np.full(100, 0.01))  # the SQUARED Frobenius ratio
    assert task["dinf"].verify(p, wrong) == pytest.approx(np.abs(wrong - true).max((1, 2)) / np.abs(true).max((1, 2)))
    inv = get("invert_matrix", rows=3, norm="d2")
    q = inv.sample(100, rng)
    h = inv.target_matrix(q) + 0.01 * rng.standard_normal((100, 3, 3))
    residual = q["input"] @ h - np.eye(3)
    assert inv.verify(q, h) == pytest.approx((residual**2).sum((1, 2)) / 3)  # trace(m^T m) / dim


def test_old_norm_names_are_refused_in_one_line():
    from mathlens.errors import UserError

    with pytest.raises(UserError, match="task.norm.*d1, d2, dinf"):
        get("eigenvalues", rows=4, norm="l2")


def test_lawt_check_accepts_incomplete_eigendecompositions_and_strict_does_not():
    lawt, strict = get("eigenvectors", rows=4), get("eigenvectors", rows=4, check="strict")
    p = lawt.sample(300, np.random.default_rng(7))
    lam, q = np.linalg.eigh(p["input"])
    scaled = np.concatenate([(4 * lam)[:, None], 2 * q], axis=1)  # V = 2Q, D = 4 Lambda
    top = np.zeros_like(scaled)  # the top eigenvector alone, zeros elsewhere
    top[:, 0, -1], top[:, 1:, -1] = lam[:, -1], q[:, :, -1]
    exact = lawt.target_matrix(p)
    for pred in (scaled, top):
        assert (lawt.verify(p, pred) < 1e-9).all()  # LAWT's check: V^T M V = D holds
        assert (strict.verify(p, pred) > 0.05).all()  # V is not orthonormal
    assert (strict.verify(p, exact) < 1e-9).all()
    svd = get("singularvectors", rows=3, check="strict")
    r = svd.sample(100, np.random.default_rng(8))
    e = svd.target_matrix(r)
    half = e.copy()
    half[:, 0] *= 4
    half[:, 1:] *= 2  # U = 2U, V = 2V, S = 4S: U^T M V = S still
    assert (get("singularvectors", rows=3).verify(r, half) < 1e-9).all() and (svd.verify(r, half) > 0.05).all()
    from mathlens.errors import UserError

    with pytest.raises(UserError, match="task.check"):
        get("eigenvalues", rows=4, check="strict")


def test_marchenko_pastur_matrices_follow_the_coefficient_distribution():
    from mathlens.tasks.matrices import random_matrices, symmetric_matrices

    for coeffs in ("uniform", "gaussian"):
        got = symmetric_matrices(np.random.default_rng(9), 50, 4, "marcenko", coeffs, 10.0)
        m1 = random_matrices(np.random.default_rng(9), 50, 4, 4, coeffs, np.sqrt(10.0))
        assert np.allclose(got, np.swapaxes(m1, 1, 2) @ m1)


def test_an_exact_token_match_is_right_at_every_tolerance():
    from mathlens.pipelines.scoring import exact_match

    pad, eos = 0, 1
    tgt = np.array([[eos, 5, 6, eos, pad], [eos, 5, 6, 7, eos]])  # start, body, end, padding
    gen = np.array([[[5, 6, eos, 9]], [[5, 6, 7, eos]]])  # what follows the end token does not matter
    assert exact_match(gen, tgt, pad).tolist() == [[True], [True]]
    longer = np.array([[[5, 6, 7, eos]], [[5, 6, 7, 8]]])
    assert exact_match(longer, tgt, pad).tolist() == [[False], [False]]
