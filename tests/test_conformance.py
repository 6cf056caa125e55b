"""One conformance suite over every fit/score component, in the spirit of scikit-learn's
`parametrize_with_checks`: constructors only store, `fit` returns self and sets `*_` attributes,
scoring before fitting is one `NotFittedError`, results are JSON-able, render as HTML and are
deterministic."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pandas as pd
import pytest

from driftlib.core.errors import NotFittedError
from driftlib.core.jsonio import to_jsonable

NUM, CAT = ["x1", "x2", "x3"], ["c"]


def _frame(seed: int, n: int = 400, shift: float = 0.0, task: str = "classification") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(shift, 1, n), "x2": rng.normal(size=n), "x3": rng.exponential(size=n),
                       "c": rng.choice(["a", "b", "c"], n)})
    signal = df["x1"] - 0.5 * df["x2"] + (df["c"] == "a")
    if task == "classification":
        df["target"] = (rng.random(n) < 1 / (1 + np.exp(-signal))).astype(int)
        df["probability"] = 1 / (1 + np.exp(-signal + rng.normal(0, 0.3, n)))
        df["prediction"] = (df["probability"] >= 0.5).astype(int)
    else:
        df["target"] = signal + rng.normal(0, 0.5 + 0.5 * np.abs(df["x2"]), n)
        df["prediction"] = signal
    return df


def _components():
    from driftlib.drift.detector import DriftDetector
    from driftlib.drift.multivariate import DomainClassifierDetector, ReconstructionDriftDetector
    from driftlib.drift.quality import DataQualityChecker
    from driftlib.performance.dle import DirectLossEstimator
    from driftlib.performance.slice_search import DriftSliceFinder, SliceFinder

    feats = {"numeric": NUM, "categorical": CAT}
    return [
        pytest.param(lambda: DriftDetector(**feats), "classification", id="DriftDetector"),
        pytest.param(lambda: DataQualityChecker(**feats), "classification", id="DataQualityChecker"),
        pytest.param(lambda: DomainClassifierDetector(**feats, max_rows=400, n_splits=3), "classification",
                     id="DomainClassifierDetector"),
        pytest.param(lambda: ReconstructionDriftDetector(numeric=NUM, min_rows=50), "classification",
                     id="ReconstructionDriftDetector"),
        pytest.param(lambda: DriftSliceFinder(**feats), "classification", id="DriftSliceFinder"),
        pytest.param(lambda: SliceFinder(metric="mae", **feats, n_boot=50), "regression", id="SliceFinder"),
        pytest.param(lambda: DirectLossEstimator(**feats, n_chunks=50), "regression", id="DirectLossEstimator"),
    ]


def _data(task: str):
    return _frame(0, task=task), _frame(1, shift=0.8, task=task)


@pytest.mark.parametrize("make,task", _components())
def test_constructor_only_stores_parameters(make, task):
    est = make()
    signature = inspect.signature(type(est).__init__)
    for name in signature.parameters:
        if name != "self" and signature.parameters[name].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            assert any(hasattr(est, attr) for attr in (name, f"{name}_column")), f"{name} not stored"
    assert not [a for a in vars(est) if a.endswith("_") and not a.startswith("_")], "fitted state before fit"


@pytest.mark.parametrize("make,task", _components())
def test_scoring_before_fit_is_one_not_fitted_error(make, task):
    _, cur = _data(task)
    with pytest.raises(NotFittedError):
        make().score(cur)


@pytest.mark.parametrize("make,task", _components())
def test_fit_returns_self_and_sets_fitted_attributes(make, task):
    ref, _ = _data(task)
    est = make()
    assert est.fit(ref) is est
    assert [a for a in vars(est) if a.endswith("_") and not a.startswith("_")], "no fitted attribute"


@pytest.mark.parametrize("make,task", _components())
def test_result_is_json_html_and_deterministic(make, task):
    ref, cur = _data(task)
    first = make().fit(ref).score(cur)
    second = make().fit(ref).score(cur)
    d = to_jsonable(first.to_dict())
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d == to_jsonable(second.to_dict())
    html = first._repr_html_()
    assert isinstance(html, str) and html.strip().startswith("<")
