"""Failure analysis (docs/papers.md part 2): retained properties on hand-built predictions, failure predictors."""

import numpy as np
import pandas as pd
import pytest
from conftest import set_args

from mathlens import tasks
from mathlens.analysis.failures import best_threshold, failure_predictor, retained_table


def _records(task, problems, predictions):
    frame = pd.DataFrame({"error": task.verify(problems, predictions)})
    for name, value in task.properties(problems, predictions).items():
        frame[f"property:{name}"] = value
    return frame.assign(**task.prediction_features(problems, predictions))


def test_eigenvector_properties_of_hand_built_predictions():
    task = tasks.get("eigenvectors", rows=3)
    p = task.sample(1, np.random.default_rng(0))
    m = p["input"][0]
    lam, v = np.linalg.eigh(m)
    swapped = v[:, [1, 0, 2]]  # one pair of vectors swapped: still orthonormal, no longer M's decomposition
    skew = v.copy()
    skew[:, 1] = (v[:, 0] + v[:, 1]) / np.sqrt(2)  # unit norm, not orthogonal to v0
    preds = np.stack([np.vstack([lam, w]) for w in (v, swapped, skew)])
    problems = {"input": np.repeat(p["input"], 3, axis=0)}
    records = _records(task, problems, preds)
    assert records["error"].iloc[0] < 1e-9 and (records["error"].iloc[1:] > 0.05).all()
    table = retained_table(records, (0.05,)).set_index("property")
    assert table.loc["full solution", "all@0.05"] == pytest.approx(1 / 3)
    # the author's unit norms look at rows and columns: the skewed V's rows are no longer unit vectors
    assert table.loc["eigenvalues", "wrong@0.05"] == 1.0 and table.loc["unit norms", "wrong@0.05"] == 0.5
    assert table.loc["orthogonality", "all@0.05"] == pytest.approx(2 / 3)
    assert table.loc["orthogonality", "wrong@0.05"] == 0.5
    cond = records["pred_cond"].to_numpy()
    assert cond[0] == pytest.approx(1) and cond[1] == pytest.approx(1) and cond[2] > 2


def test_eigenvector_properties_are_the_authors():
    """The author's err2/err3/err4 (LAWT's failure notebook): V = Q + 0.002 N keeps orthogonality at 1% (max
    |cos| of consecutive eigenvectors), where the stricter ||V^T V - I||_1 / n mostly does not."""
    task = tasks.get("eigenvectors", rows=5)
    rng = np.random.default_rng(3)
    p = task.sample(2000, rng)
    exact = task.target_matrix(p)
    noisy = exact.copy()
    noisy[:, 1:] += 0.002 * rng.standard_normal(noisy[:, 1:].shape)
    props = task.properties(p, noisy)
    assert np.mean(props["orthogonality"] < 0.01) > 0.95
    assert np.mean(props["V^T V = I (strict)"] < 0.01) < 0.5
    assert np.mean(props["unit norms"] < 0.01) > 0.95 and (props["eigenvalues"] == 0).all()
    # err4 by hand for one V: consecutive columns and rows, the last with the first
    v = noisy[0, 1:]
    cos = [abs(a @ b) / np.linalg.norm(a) / np.linalg.norm(b) for w in (v, v.T) for a, b in zip(w, np.roll(w, -1, 0))]
    assert props["orthogonality"][0] == pytest.approx(max(cos))
    # err2 compares the eigenvalues as written with the true ones, in the target's order
    swapped = exact.copy()
    swapped[:, 0] = exact[:, 0, ::-1]
    assert (task.properties(p, swapped)["eigenvalues"] > 0.05).mean() > 0.99


def test_eigenvalue_and_inverse_properties():
    ev = tasks.get("eigenvalues", rows=4)
    p = ev.sample(2, np.random.default_rng(1))
    true = ev.target_matrix(p)
    pred = true.copy()
    pred[1] = true[1, ::-1]  # right values, written in increasing order
    props = ev.properties(p, pred)
    assert props["sorted"].tolist() == [0.0, 1.0] and (props["sum = trace"] < 1e-9).all()
    inv = tasks.get("syminverse", rows=3)
    q = inv.sample(2, np.random.default_rng(2))
    h = np.linalg.inv(q["input"])
    h[1] += np.triu(np.ones((3, 3)), 1)  # no longer symmetric
    props = inv.properties(q, h)
    assert props["symmetric"][0] < 1e-9 < props["symmetric"][1] and props["H M = I"][0] < 1e-9
    # the author's err2 for inversion: sum|H - M^-1| / sum|M^-1|
    m_inv = np.linalg.inv(q["input"])
    assert props["close to M^-1"][0] < 1e-9
    assert props["close to M^-1"][1] == pytest.approx(np.abs(h[1] - m_inv[1]).sum() / np.abs(m_inv[1]).sum())


def test_predictor_beats_the_majority_when_failures_follow_one_feature():
    rng = np.random.default_rng(0)
    n = 2000
    cond = 10 ** rng.uniform(0, 6, n)
    noise = rng.normal(size=(n, 3))
    right = (cond < 1e3) ^ (rng.random(n) < 0.05)  # fails on ill-conditioned problems, 5% label noise
    records = pd.DataFrame({"cond": cond, "n1": noise[:, 0], "n2": noise[:, 1], "n3": noise[:, 2],
                            "correct@5%": right})
    out = failure_predictor(records, "correct@5%")
    for name in ("logistic", "boosting"):
        assert out[name]["accuracy"] > out["majority"] + 0.2 and out[name]["auc"] > 0.85
        assert out[name]["top_features"][0] == "cond"
    t = best_threshold(records, "correct@5%")
    assert t["feature"] == "cond" and t["right_when"] == "below" and 300 < t["threshold"] < 3000
    assert t["balanced_accuracy"] > 0.9


def test_failures_command_and_notebook_api(tiny_overrides, capsys):
    import mathlens
    from mathlens.cli import main

    sets = set_args(tiny_overrides)
    assert main(["train", "quickstart", "--out", "runs/t", "--quiet", *sets]) == 0
    run = mathlens.load_run("runs/t")
    with pytest.raises(Exception, match="no evaluation records yet"):
        mathlens.analyze(run, "failures")
    mathlens.evaluate(run, size=60)
    result = mathlens.analyze(run, "failures")
    s = result.summary
    assert s["correct"] == "correct@5%" and s["retained"][0]["property"] == "full solution"
    assert list(result.tables["retained"]["property"]) == [r["property"] for r in s["retained"]]
    assert main(["analyze", "runs/t", "failures"]) == 0
    assert "retained properties" in capsys.readouterr().out
    assert (run.path / "analysis" / "failures" / "retained.md").exists()


def test_report_renders_in_headless_chromium(tiny_overrides, tmp_path):
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium on this machine: the report's rendering is not checked")
    from mathlens.cli import main

    sets = set_args(tiny_overrides)
    assert main(["train", "quickstart", "--out", "runs/r", "--quiet", *sets]) == 0
    assert main(["eval", "runs/r", "--size", "40"]) == 0
    assert main(["analyze", "runs/r", "failures"]) == 0
    assert main(["report", "runs/r"]) == 0
    shot = tmp_path / "report.png"
    page = (tmp_path / "runs" / "r" / "report.html").resolve()
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1200,3000", f"--screenshot={shot}", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert shot.exists() and shot.stat().st_size > 50_000  # a page with figures, not a blank one
    html = page.read_text()
    assert "Why it fails" in html and "http://" not in html and "https://" not in html  # offline: no CDN


def test_modular_wrong_answers_are_matched_to_nearby_formulas():
    task = tasks.get("modular", p=11, formula="x-y")
    data = task.dataset()
    pred = (data["x"] + data["y"]) % 11  # the model answers x + y instead of x - y
    props = task.properties(data, pred)
    assert (props["= x+y"] == 0).all() and props["= y-x"].mean() > 0.8
    assert set(task.verify(data, pred)) == {0.0, 1.0} and task.verify(data, pred).mean() > 0.8  # an error, as
    assert (task.verify(data, (data["x"] - data["y"]) % 11) == 0).all()  # every task's verify gives
    table = retained_table(pd.DataFrame({"error": task.verify(data, pred),
                                         **{f"property:{k}": v for k, v in props.items()}}), (0.5,))
    assert table.set_index("property").loc["= x+y", "wrong@0.5"] == 1.0


def test_failures_of_an_eigenvalue_run_plot_predicted_against_true(tiny_overrides):
    from mathlens.cli import main

    sets = set_args(tiny_overrides)
    assert main(["train", "cpu/eigenvalues-5x5", "--out", "runs/e", "--quiet", *sets]) == 0
    assert main(["eval", "runs/e", "--size", "30"]) == 0
    assert main(["analyze", "runs/e", "failures"]) == 0
    out = pd.read_csv("runs/e/analysis/failures/retained.csv")
    assert out["property"].tolist() == ["full solution", "sorted", "values in any order", "sum = trace"]
    from mathlens import load_run
    from mathlens.analysis.failures import eigenvalues_of_records

    run = load_run("runs/e")
    true, pred = eigenvalues_of_records(run, run.records())
    assert true.shape[1] == 2 and (np.diff(true, axis=1) <= 0).all()  # sorted, two per 2x2 matrix
    assert (run.path / "analysis" / "failures" / "eigenvalues.png").exists() == (len(true) > 0)
    perfect = run.records().assign(prediction=lambda r: r["target"])  # a model that is always right
    true, pred = eigenvalues_of_records(run, perfect)
    assert len(true) == 30 and np.array_equal(true, pred)
