import math

import numpy as np
import pytest

from mathlens.tasks.matrices import EIGEN_DISTRIBUTIONS, symmetric_matrices, wigner

DIM, N, A = 5, 4000, 10.0
S = math.sqrt(DIM) * A / math.sqrt(3)


@pytest.fixture(scope="module")
def spectra():
    rng = np.random.default_rng(0)
    return {d: (m := symmetric_matrices(rng, N, DIM, d, max_coeff=A), np.linalg.eigvalsh(m))
            for d in EIGEN_DISTRIBUTIONS}


def test_every_family_is_symmetric_and_finite(spectra):
    for name, (m, _) in spectra.items():
        assert m.shape == (N, DIM, DIM), name
        assert np.isfinite(m).all() and np.array_equal(m, np.swapaxes(m, 1, 2)), name


def test_wigner_coefficients_are_uniform_in_range_and_the_same_law_above_and_below_the_diagonal():
    w = wigner(np.random.default_rng(1), N, DIM, "uniform", A)
    assert np.abs(w).max() <= A and np.abs(w).max() > 0.99 * A
    assert np.std(w[:, 0, 1]) == pytest.approx(A / math.sqrt(3), rel=0.05)
    g = wigner(np.random.default_rng(1), N, DIM, "gaussian", A)  # really gaussian: unbounded tails
    assert np.abs(g).max() > A


def test_eigenvalue_laws(spectra):
    lam = {d: spectra[d][1].ravel() for d in EIGEN_DISTRIBUTIONS}
    assert lam["positive"].min() >= -1e-9 and lam["positive2"].min() >= -1e-9
    assert lam["marcenko"].min() >= -1e-9  # M1^T M1 is positive semi-definite
    assert np.abs(lam["uniform"]).max() <= S * math.sqrt(3) + 1e-9
    assert np.std(lam["uniform"]) == pytest.approx(S, rel=0.05)
    assert np.std(lam["gaussian"]) == pytest.approx(S, rel=0.05)
    assert np.std(lam["laplace"]) == pytest.approx(S, rel=0.05)
    kurtosis = lambda x: np.mean((x - x.mean()) ** 4) / np.var(x) ** 2  # noqa: E731
    assert kurtosis(lam["laplace"]) > 5 > 3.5 > kurtosis(lam["gaussian"]) > 2.5 > 2 > kurtosis(lam["uniform"])
    # the semicircle family keeps the Wigner matrix itself: |l| of positive equals the semicircle's magnitudes
    assert np.mean(np.abs(lam["semicircle"])) == pytest.approx(np.mean(lam["positive"]), rel=0.05)


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="distribution must be one of"):
        symmetric_matrices(np.random.default_rng(0), 1, 3, "cauchy")
