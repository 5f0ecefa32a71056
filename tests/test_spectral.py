import numpy as np
import pytest

from mathlens.tasks import get

SPECTRAL = ["eigenvalues", "eigenvectors", "invert_matrix", "syminverse", "singularvalues", "singularvectors"]
N = 10_000


@pytest.mark.parametrize("norm", ["l1", "l2", "linf"])
@pytest.mark.parametrize("name", SPECTRAL)
def test_exact_answers_verify_and_perturbed_ones_do_not(name, norm):
    task = get(name, rows=4, norm=norm)
    rng = np.random.default_rng(0)
    problems = task.sample(N, rng)
    exact = task.target_matrix(problems)
    assert exact.shape[1:] == task.output_shape(problems)
    assert (task.verify(problems, exact) < 0.005).all()
    perturbed = exact * (1 + 0.05 * rng.standard_normal(exact.shape))  # 5% relative noise on every number
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
