import numpy as np
import pytest

from mathlens.measures import fourier

P = 97
X = np.arange(P)


def embedding(freqs: dict[int, tuple[float, float]], p=P, d=32, seed=0):
    """An embedding whose residue rows are sum_k a_k cos(w_k x) u_k + b_k sin(w_k x) v_k (random directions)."""
    rng = np.random.default_rng(seed)
    E = np.zeros((p, d))
    for k, (a, b) in freqs.items():
        u, v = rng.normal(size=d), rng.normal(size=d)
        E += a * np.cos(2 * np.pi * k * np.arange(p) / p)[:, None] * u / np.linalg.norm(u)
        E += b * np.sin(2 * np.pi * k * np.arange(p) / p)[:, None] * v / np.linalg.norm(v)
    return E


def test_component_norms_recover_the_built_amplitudes():
    alpha, beta = fourier.component_norms(embedding({4: (3.0, 1.0)}), P)
    scale = np.sqrt(P / 2)  # a unit-amplitude cosine has norm sqrt(p/2) over the residues
    assert alpha[3] == pytest.approx(3 * scale) and beta[3] == pytest.approx(scale)
    assert np.delete(alpha, 3).max() < 1e-9 and np.delete(beta, 3).max() < 1e-9


def test_ffs_fcr_and_key_frequencies_of_known_embeddings():
    paired = embedding({3: (1, 1), 7: (1, 1), 20: (1, 1)})
    assert fourier.ffs(paired, P) == pytest.approx(6 / 96)
    assert fourier.fcr(paired, P) == pytest.approx(1.0)
    assert sorted(fourier.key_frequencies(paired, P)) == [3, 7, 20]

    cos_only = embedding({5: (1, 0), 11: (1, 0)})
    assert fourier.ffs(cos_only, P) == pytest.approx(2 / 96)
    assert fourier.fcr(cos_only, P) == pytest.approx(0.0, abs=1e-9)

    half = embedding({9: (2, 1)})
    assert fourier.fcr(half, P) == pytest.approx(0.5)

    dense = np.random.default_rng(0).normal(size=(P, 64))  # noise: every frequency present
    assert fourier.ffs(dense, P) > 0.9
    # eps is the threshold relative to the largest component
    weak = embedding({3: (1, 1), 8: (0.05, 0.05)})
    assert fourier.ffs(weak, P, eps=0.1) == pytest.approx(2 / 96)
    assert fourier.ffs(weak, P, eps=0.01) == pytest.approx(4 / 96)


def test_only_the_residue_rows_are_measured():
    E = np.vstack([embedding({6: (1, 1)}), np.full((3, 32), 100.0)])  # op tokens after the residues
    assert fourier.key_frequencies(E, P) == [6]


def test_gini():
    assert fourier.gini(np.ones(48)) == pytest.approx(0.0)
    one_hot = np.zeros(48)
    one_hot[7] = 5
    assert fourier.gini(one_hot) == pytest.approx(47 / 48)
    sparse = fourier.gini(fourier.frequency_norms(embedding({3: (1, 1), 7: (1, 1)}), P))
    dense = fourier.gini(fourier.frequency_norms(np.random.default_rng(0).normal(size=(P, 64)), P))
    assert sparse > 0.9 > 0.3 > dense


def exact_fourier_logits(keys, answers, scale=30.0):
    z = np.arange(P)
    return scale * sum(np.cos(2 * np.pi * k * (answers[:, None] - z) / P) for k in keys)


def test_restricted_loss_of_an_exact_fourier_solution_is_near_zero_and_excluded_loss_is_high():
    x, y = np.divmod(np.arange(P * P), P)
    answers = (x + y) % P
    keys = [14, 35, 41, 42, 52]
    logits = exact_fourier_logits(keys, answers)
    full = fourier.cross_entropy(logits, answers)
    assert full < 1e-6
    assert fourier.restricted_loss(logits, answers, keys, P) == pytest.approx(full, abs=1e-6)
    assert fourier.excluded_loss(logits, answers, keys, P) > np.log(P) - 0.1  # no better than chance
    # restricting to the wrong frequencies destroys the solution
    assert fourier.restricted_loss(logits, answers, [1, 2], P) > np.log(P) - 0.1
    # noise outside the key frequencies does not change the restricted loss
    noisy = logits + np.random.default_rng(0).normal(size=logits.shape)
    assert fourier.restricted_loss(noisy, answers, keys, P) < 1e-3


def test_multiplicative_basis_reveals_a_discrete_log_frequency():
    order = fourier.discrete_log_order(P)
    assert sorted(order) == list(range(1, P))
    g = fourier.primitive_root(P)
    assert len({pow(g, i, P) for i in range(P - 1)}) == P - 1
    # residue g^i embedded as cos(2 pi 5 i / (p-1)): sparse in the multiplicative basis, dense in the additive
    log = np.zeros(P, dtype=int)
    log[order] = np.arange(P - 1)
    E = np.zeros((P, 16))
    E[1:, 0] = np.cos(2 * np.pi * 5 * log[1:] / (P - 1))
    E[1:, 1] = np.sin(2 * np.pi * 5 * log[1:] / (P - 1))
    mult = fourier.multiplicative_embedding(E, P)
    assert fourier.key_frequencies(mult, P - 1) == [5]
    assert fourier.ffs(mult, P - 1) == pytest.approx(2 / 95)  # 95 non-constant components over Z_96 (Nyquist included)
    assert fourier.ffs(E, P) > 0.3  # the same embedding looks dense in the additive basis


def test_fourier_2d_finds_the_frequency_of_a_logit_table():
    k = 12
    x, y = np.meshgrid(X, X, indexing="ij")
    table = np.cos(2 * np.pi * k * (x + y) / P)  # = cos cos - sin sin
    norms = fourier.fourier_2d(table, P)
    _, labels = fourier.fourier_basis(P)
    top = {(labels[i], labels[j]) for i, j in zip(*np.unravel_index(np.argsort(norms, None)[-2:], norms.shape))}
    assert top == {("cos12", "cos12"), ("sin12", "sin12")}


def legendre(p=P):
    """(p,) Legendre symbol of each residue: 0, then +1 for squares, -1 otherwise."""
    squares = {x * x % p for x in range(1, p)}
    return np.array([0.0] + [1.0 if r in squares else -1.0 for r in range(1, p)])


def test_the_nyquist_component_of_the_multiplicative_basis_is_measured():
    # The Legendre symbol is (-1)^i in discrete-log order: the Nyquist frequency (p-1)/2 of Z_{p-1}, alone.
    E = legendre()[:, None] * np.random.default_rng(0).normal(size=(1, 16))
    mult = fourier.multiplicative_embedding(E, P)
    n = P - 1
    assert fourier.key_frequencies(mult, n) == [n // 2]
    assert fourier.ffs(mult, n) == pytest.approx(1 / (n - 1))  # one of the 95 non-constant components
    assert np.isnan(fourier.fcr(mult, n))  # the Nyquist cosine has no sine to pair with
    norms = fourier.frequency_norms(mult, n)
    assert norms[-1] == pytest.approx(np.linalg.norm(mult)) and norms[:-1].max() < 1e-9
    basis, labels = fourier.fourier_basis(n)
    assert basis.shape == (n, n) and labels[-1] == f"cos{n // 2}"
    assert np.allclose(basis @ basis.T, np.eye(n))


@pytest.mark.parametrize("kind", ["constant", "zeros", "constant float32"])
def test_structureless_embeddings_read_as_no_structure(kind):
    E = {"constant": np.full((P, 8), 0.37), "zeros": np.zeros((P, 8)),
         "constant float32": np.full((P, 8), 0.37, dtype=np.float32)}[kind]
    assert fourier.ffs(E, P) == 0.0  # was 0.625 for the constant: rounding noise read as structure
    assert np.isnan(fourier.fcr(E, P))
    assert fourier.key_frequencies(E, P) == []
    assert fourier.structureless(E, P)
    assert fourier.spectrum_gini(E, P) == 0.0
    # a real frequency on top of a large constant still counts, and rounding noise around it does not
    E2 = np.full((P, 8), 100.0) + embedding({4: (1, 1)}, d=8)
    assert fourier.ffs(E2, P) == pytest.approx(2 / 96) and fourier.key_frequencies(E2, P) == [4]


def multiplicative_logits(keys, x, y, p=P, scale=30.0):
    """Logits of an exact discrete-log Fourier solution of x*y mod p: cos(w_k (log c - log z)) over z != 0."""
    order = fourier.discrete_log_order(p)
    log = np.zeros(p, dtype=int)
    log[order] = np.arange(p - 1)
    c = x * y % p
    out = np.zeros((len(x), p))
    out[:, 1:] = scale * sum(np.cos(2 * np.pi * k * (log[c][:, None] - log[1:][None, :]) / (p - 1)) for k in keys)
    return out, c


def test_restricted_and_excluded_loss_in_the_multiplicative_basis():
    x, y = np.divmod(np.arange(P * P), P)
    keys = [7, 20, 33, 48]  # 48: the Nyquist frequency of Z_96
    logits, answers = multiplicative_logits(keys, x, y)
    nonzero = answers != 0
    full = fourier.cross_entropy(logits[nonzero], answers[nonzero])
    assert full < 1e-6
    assert fourier.restricted_loss(logits, answers, keys, P, "multiplicative") == pytest.approx(full, abs=1e-6)
    assert fourier.excluded_loss(logits, answers, keys, P, "multiplicative") > np.log(P - 1) - 0.1
    # the additive basis's directions (what products were measured with before) miss this solution: removing
    # them leaves it intact
    assert fourier.excluded_loss(logits[nonzero], answers[nonzero], keys, P) < 0.01
    with pytest.raises(ValueError, match="basis"):
        fourier.restricted_loss(logits, answers, keys, P, "log")


def test_progress_measures_of_a_product_use_the_multiplicative_basis():
    import torch

    from mathlens import tasks
    from mathlens.measures.progress import measure

    task = tasks.get("modular", p=P, formula="x*y")
    data = task.dataset()
    E = np.zeros((P + 1, 4))
    order = fourier.discrete_log_order(P)
    E[order, 0] = np.cos(2 * np.pi * 7 * np.arange(P - 1) / (P - 1))  # frequency 7 of the discrete log
    E[order, 1] = np.sin(2 * np.pi * 7 * np.arange(P - 1) / (P - 1))

    class Embedded(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.token_embedding = torch.nn.Parameter(torch.tensor(E))

    logits, _ = multiplicative_logits([7], data["x"], data["y"])
    record = measure(Embedded(), task, data, np.arange(len(data["answer"])), logits=logits)
    assert record["loss_basis"] == "multiplicative" and record["mult_key_freqs"] == [7]
    nonzero = data["answer"] != 0
    full = fourier.cross_entropy(logits[nonzero], data["answer"][nonzero])
    assert record["restricted_loss"] == pytest.approx(full, abs=1e-6)  # the logits lie along frequency 7
    assert record["excluded_loss"] > np.log(P - 1) - 0.1
