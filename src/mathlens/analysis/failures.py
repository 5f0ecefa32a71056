"""Why did it fail (docs/papers.md part 2, Charton): what wrong predictions keep, and which problems fail.

Works on evaluation records (one row per problem, as `mathlens eval` writes them): the error, the
``property:NAME`` columns (the error of the prediction on each deep property of the solution, from
``Task.properties``), the problem's features and the prediction's own features.

- :func:`retained_table`: for each property and tolerance, the share of all predictions and of the wrong ones
  that keep it (the author's eigenvector table has this shape).
- :func:`failure_predictor`: logistic regression and gradient boosting (scikit-learn) fitted on half the
  records to tell right from wrong from the features, scored (accuracy, AUC) on the other half.
- :func:`best_threshold`: the single feature and threshold that best separate right from wrong.

>>> table = retained_table(records, (0.05, 0.01))                   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UserError
from .base import Analysis, Result

PROPERTY = "property:"
NOT_FEATURES = {"error", "reason", "prediction", "target", "any_beam_error", "generated", "set", "correct", "valid",
                "digit_acc", "answer"}


def retained_table(records: pd.DataFrame, tolerances) -> pd.DataFrame:
    """One row per property (the full solution first): for each tolerance tau, the share of all predictions
    whose error on the property is below tau, and the share of the wrong predictions (error >= tau) that
    still keep it. A share of wrong predictions is empty (NaN) when none is wrong."""
    err = records["error"].to_numpy(dtype=float)
    props = {"full solution": err} | {c[len(PROPERTY):]: records[c].to_numpy(dtype=float)
                                       for c in records.columns if c.startswith(PROPERTY)}
    rows = []
    for name, value in props.items():
        row = {"property": name}
        for tol in tolerances:
            kept, wrong = value < tol, err >= tol
            row[f"all@{tol:g}"] = float(kept.mean())
            row[f"wrong@{tol:g}"] = float(kept[wrong].mean()) if wrong.any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def feature_columns(records: pd.DataFrame) -> list[str]:
    """Numeric columns that describe the problem or the prediction (not the verdict)."""
    return [c for c in records.columns if c not in NOT_FEATURES and not c.startswith((PROPERTY, "correct@"))
            and pd.api.types.is_numeric_dtype(records[c]) and records[c].nunique() > 1]


def _matrix(records: pd.DataFrame, features: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Features as a float matrix: infinities and NaN become the column's finite extreme (a huge condition
    number stays huge), and a positive feature spanning more than two decades is taken as its log10 (a linear
    model then sees a condition number as an order of magnitude). Returns (x, logged (n_features,) bool)."""
    x = records[features].to_numpy(dtype=float).copy()
    logged = np.zeros(x.shape[1], dtype=bool)
    for j in range(x.shape[1]):
        col = x[:, j]
        finite = np.isfinite(col)
        hi = col[finite].max() if finite.any() else 0.0
        lo = col[finite].min() if finite.any() else 0.0
        col[np.isposinf(col) | np.isnan(col)] = hi
        col[np.isneginf(col)] = lo
        if lo > 0 and hi / lo > 100:
            x[:, j], logged[j] = np.log10(col), True
    return x, logged


def failure_predictor(records: pd.DataFrame, correct: str, features: list[str] | None = None, seed: int = 0,
                      top: int = 5) -> dict:
    """Fit classifiers of right (True) vs wrong from ``features`` on a random half; score on the other half.

    Returns a dict: n_fit, n_test, majority (accuracy of always guessing the commoner class), and per model
    ('logistic', 'boosting') accuracy, auc and its ``top`` features (largest absolute standardised
    coefficient, or impurity importance), or {'error': why} when a half has only one class.
    """
    # scikit-learn takes a second to import: only when a predictor is fitted
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = features or feature_columns(records)
    y = records[correct].to_numpy(dtype=bool)
    x, _ = _matrix(records, features)
    order = np.random.default_rng(seed).permutation(len(y))
    fit, test = order[: len(y) // 2], order[len(y) // 2 :]
    out = {"features": features, "n_fit": len(fit), "n_test": len(test),
           "share_right": float(y.mean()), "majority": float(max(y[test].mean(), 1 - y[test].mean()))}
    if len(set(y[fit])) < 2 or len(set(y[test])) < 2:
        out["error"] = "every problem in a half is right, or every one wrong: nothing to predict"
        return out
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    boosting = HistGradientBoostingClassifier(random_state=seed, max_iter=200)
    for name, model in (("logistic", logistic), ("boosting", boosting)):
        model.fit(x[fit], y[fit])
        p = model.predict_proba(x[test])[:, 1]
        if name == "logistic":
            weight = np.abs(model[-1].coef_[0])
        else:
            weight = permutation_importance(model, x[test], y[test], n_repeats=3, random_state=seed,
                                            scoring="roc_auc").importances_mean
        ranked = np.argsort(-weight)[:top]
        out[name] = {"accuracy": float(np.mean((p > 0.5) == y[test])), "auc": float(roc_auc_score(y[test], p)),
                     "top_features": [features[i] for i in ranked], "weights": [float(weight[i]) for i in ranked]}
    return out


def best_threshold(records: pd.DataFrame, correct: str, features: list[str] | None = None) -> dict:
    """The single feature and threshold that best separate right from wrong (balanced accuracy: the mean of
    the shares of right and of wrong problems on their side), as the author's cond(V) < 1.035."""
    features = features or feature_columns(records)
    y = records[correct].to_numpy(dtype=bool)
    x, logged = _matrix(records, features)
    best = {"feature": None, "balanced_accuracy": 0.5}
    if y.all() or not y.any():
        return best
    for j, name in enumerate(features):
        order = np.argsort(x[:, j], kind="stable")
        v, right = x[order, j], y[order]
        # "right below t": the rights at or below each cut, and the wrongs above it
        right_below = np.cumsum(right) / right.sum()
        wrong_above = 1 - np.cumsum(~right) / (~right).sum()
        last = np.r_[v[1:] != v[:-1], True]  # cut only between distinct values
        for direction, score in (("below", (right_below + wrong_above) / 2),
                                 ("above", ((1 - right_below) + (1 - wrong_above)) / 2)):
            score = np.where(last, score, 0)
            i = int(np.argmax(score))
            if score[i] > best["balanced_accuracy"]:
                nxt = v[i + 1] if i + 1 < len(v) else v[i]
                cut = (v[i] + nxt) / 2
                cut = 10**cut if logged[j] else cut  # compared as log10: the threshold in the feature's units
                best = {"feature": name, "threshold": float(cut), "right_when": direction,
                        "balanced_accuracy": float(score[i]),
                        "right_on_their_side": float(right_below[i] if direction == "below" else 1 - right_below[i]),
                        "wrong_on_their_side": float(wrong_above[i] if direction == "below" else 1 - wrong_above[i])}
    return best


def eigenvalues_of_records(run, records: pd.DataFrame, limit: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) eigenvalues, (m, d) each, decoded from the records' target and prediction tokens
    (the first ``limit`` records; rows whose prediction did not decode are left out)."""
    pipe = run.pipe
    vocab, shape = pipe.vocab, None
    rows = records.head(limit)

    def ids(texts):
        seqs = [[vocab.index.get(t, vocab.pad_id) for t in str(x).split()] + [vocab.eos_id] for x in texts]
        width = max(map(len, seqs))
        return np.array([q + [vocab.pad_id] * (width - len(q)) for q in seqs])

    true_ids, pred_ids = ids(rows["target"]), ids(rows["prediction"])
    d = int(rows["rows"].iloc[0]) if "rows" in rows else run.task.options.rows
    shape = (d, 1) if run.task.name == "eigenvalues" else (1 + d, d)
    true, _ = pipe.codec_out.decode(true_ids, shape)
    pred, _ = pipe.codec_out.decode(pred_ids, shape)
    pick = (lambda m: m[:, :, 0]) if run.task.name == "eigenvalues" else (lambda m: m[:, 0, :])
    true, pred = -np.sort(-pick(true), 1), -np.sort(-pick(pred), 1)
    ok = np.isfinite(pred).all(1) & np.isfinite(true).all(1)
    return true[ok], pred[ok]


def failures_report(run, seed: int = 0) -> Result:
    """`mathlens analyze RUN failures`: the retained-properties table, the failure predictors and the best
    single threshold on the run's newest evaluation records (figures: eigenvalue scatter, right vs wrong)."""
    records = run.records()
    tolerances = run.task.tolerances
    if "error" not in records:
        raise UserError(f"{run.path}: its newest records have no per-problem error; run `mathlens eval "
                        f"{run.path}` again")
    correct = "correct" if "correct" in records else f"correct@{tolerances[0] * 100:g}%"
    if correct == "correct":  # exact answers: errors are 0 or 1, one "tolerance" between them
        table = retained_table(records, (0.5,)).rename(columns={"all@0.5": "all", "wrong@0.5": "wrong"})
        # many candidate properties (modular: every nearby formula): the full solution and the 8 most kept
        table = pd.concat([table.iloc[:1], table.iloc[1:].sort_values("wrong", ascending=False).head(8)])
    else:
        table = retained_table(records, (0.05, 0.01) if "correct@1%" in records else tolerances)
    predictor = failure_predictor(records, correct, seed=seed)
    threshold = best_threshold(records, correct)
    summary = {"records": len(records), "correct": correct, "predictor": predictor, "threshold": threshold,
               "retained": table.to_dict("records")}
    data = {"records": records, "correct": correct,
            "shown": predictor.get("boosting", {}).get("top_features", [])[:3] or predictor["features"][:3]}
    if run.task.name in ("eigenvalues", "eigenvectors"):
        data["eigenvalues"] = eigenvalues_of_records(run, records)
    return Result(summary, tables={"retained": table}, formats={"retained": ".2%"}, data=data)


def describe(run, s: dict) -> list[str]:
    """What `mathlens analyze RUN failures` prints of a :func:`failures_report` summary."""
    lines = [f"{run.path}: {s['records']} evaluation records; right = {s['correct']}",
             "retained properties (share of all predictions / of wrong ones that keep each):",
             pd.DataFrame(s["retained"]).to_markdown(index=False, floatfmt=".2%")]
    p = s["predictor"]
    if "error" in p:
        lines.append(f"failure predictor: {p['error']}")
    else:
        for name in ("logistic", "boosting"):
            m = p[name]
            lines.append(f"failure predictor, {name}: accuracy {m['accuracy']:.1%} (majority {p['majority']:.1%}), "
                         f"AUC {m['auc']:.3f}; top features: {', '.join(m['top_features'])}")
    t = s["threshold"]
    if t["feature"]:
        lines.append(f"best single threshold: right when {t['feature']} is {t['right_when']} {t['threshold']:.4g} "
                     f"({t['right_on_their_side']:.1%} of right and {t['wrong_on_their_side']:.1%} of wrong "
                     f"predictions on their side)")
    lines.append(f"tables, figures and summary.json: {run.path / 'analysis' / 'failures'}")
    return lines


ANALYSIS = Analysis("failures", "what wrong predictions keep and which problems fail (any evaluated run)",
                    compute=failures_report, describe=describe, options=())
