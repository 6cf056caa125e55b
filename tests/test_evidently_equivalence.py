"""Differential test: the engine against Evidently 0.7 itself, column by column.

Each group below is one pair of frames with many generated columns (one case per column), run through
one Evidently `Report([DataDriftPreset()])` to keep the runtime modest. For every case the method name
and drift flag must be identical and the score within 1e-6 relative; the dataset verdicts too.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from driftlib.drift.detector import DriftDetector
from driftlib.drift.evidently_io import evidently_report, evidently_summary, evidently_verdicts

pytestmark = pytest.mark.slow  # ~20 Evidently reports' worth of CPU; runs in `make test`

NUM_METHODS = ["ks", "wasserstein", "jensenshannon", "psi", "kl_div", "hellinger"]
CAT_METHODS = ["chisquare", "z", "jensenshannon", "psi", "kl_div", "hellinger"]


def _with_gaps(rng, x: np.ndarray, share: float, inf: bool = True) -> np.ndarray:
    x = x.astype(float)
    idx = rng.choice(len(x), int(share * len(x)), replace=False)
    x[idx] = np.nan
    if inf and len(idx) >= 4:
        x[idx[:2]] = np.inf
        x[idx[2:4]] = -np.inf
    return x


def _cats(rng, n, k, p=None, prefix="c"):
    return rng.choice([f"{prefix}{i}" for i in range(k)], n, p=p).astype(object)


def numeric_columns(rng, n: int, shift: float) -> dict:
    """Numeric generators; `shift` moves the current side (0 for reference)."""
    return {
        "normal": rng.normal(shift, 1 + shift / 4, n),
        "normal_small_shift": rng.normal(shift / 10, 1, n),
        "lognormal": rng.lognormal(shift / 3, 0.8, n),
        "int_wide": rng.integers(0, 60 + int(20 * shift), n),
        "int_21": rng.integers(0, 21, n),  # just above the 20-unique histogram switch
        "int_20": rng.integers(0, 20, n),  # at the switch: value counts
        "low_card_5": rng.integers(0, 5, n) if shift == 0 else rng.choice(5, n, p=[.1, .2, .2, .2, .3]),
        "low_card_3_float": rng.choice([0.5, 1.5, 2.5], n, p=[.2, .3, .5] if shift else [.3, .3, .4]),
        "binary": rng.binomial(1, 0.3 + 0.1 * shift, n),
        "constant": np.full(n, 7.0),
        "const_ref_moves": np.full(n, 3.0) if shift == 0 else rng.choice([3.0, 4.0], n),
        "with_nan_inf": _with_gaps(rng, rng.normal(shift / 2, 1, n), 0.1),
        "int_with_nan": _with_gaps(rng, rng.integers(0, 40, n), 0.05, inf=False),
        "big_offset": 1e9 + rng.normal(shift / 5, 1, n),
        "heavy_ties": np.round(rng.normal(shift, 1, n), 1),
        "float32": rng.normal(shift / 3, 2, n).astype(np.float32),
    }


def categorical_columns(rng, n: int, shift: float) -> dict:
    return {
        "cat_3": _cats(rng, n, 3, [.5, .3, .2] if shift == 0 else [.3, .3, .4]),
        "cat_10": _cats(rng, n, 10),
        "cat_unseen": _cats(rng, n, 4 if shift == 0 else 6),
        "cat_binary": _cats(rng, n, 2, [.5, .5] if shift == 0 else [.35, .65]),
        "cat_const": np.array(["same"] * n, dtype=object),
        "cat_with_none": np.where(rng.random(n) < 0.1, None, _cats(rng, n, 5)).astype(object),
        "cat_int_codes": rng.integers(0, 4 + int(shift), n),
        "cat_bool_like": rng.choice(["yes", "no"], n, p=[.9, .1] if shift == 0 else [.8, .2]).astype(object),
    }


def make_group(seed: int, n_ref: int, n_cur: int, shift: float):
    rng = np.random.default_rng(seed)
    ref = {**numeric_columns(rng, n_ref, 0.0), **categorical_columns(rng, n_ref, 0.0)}
    cur = {**numeric_columns(rng, n_cur, shift), **categorical_columns(rng, n_cur, shift)}
    numeric = list(numeric_columns(rng, 1, 0.0))
    categorical = list(categorical_columns(rng, 1, 0.0))
    return pd.DataFrame(ref), pd.DataFrame(cur), numeric, categorical


def override_columns(numeric: list[str], categorical: list[str], offset: int) -> dict:
    """Every method on several columns; some with a custom threshold."""
    out = {}
    for i, c in enumerate(numeric):
        m = NUM_METHODS[(i + offset) % len(NUM_METHODS)]
        out[c] = {"method": m, "threshold": 0.2 if i % 4 == 3 and m not in ("ks",) else None}
    for i, c in enumerate(categorical):
        m = CAT_METHODS[(i + offset) % len(CAT_METHODS)]
        out[c] = {"method": m, "threshold": 0.01 if i % 3 == 2 and m in ("chisquare", "z") else None}
    return out


# (seed, reference rows, current rows, shift, overrides offset or None)
GROUPS = [
    (1, 200, 150, 0.0, None),
    (3, 1000, 800, 0.3, None),      # largest "small" reference: p-value tests
    (4, 1001, 900, 0.3, None),      # just past the switch: distances
    (5, 1080, 700, 0.5, None),      # 1080 raw rows; with_nan_inf has ~970 clean rows: KS there
    (7, 3000, 2000, 1.0, None),
    (8, 600, 500, 0.6, 0),          # overrides, small reference
    (9, 2500, 2000, 0.6, 1),        # overrides, large reference
    (10, 2500, 1500, 0.2, 3),
]


def _run_group(seed, n_ref, n_cur, shift, offset):
    ref, cur, numeric, categorical = make_group(seed, n_ref, n_cur, shift)
    cols = override_columns(numeric, categorical, offset) if offset is not None else {}
    cols = {k: v for k, v in cols.items() if v}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snap = evidently_report(ref, cur, numeric, categorical, sample=None, columns=cols)
    ours = DriftDetector(numeric=numeric, categorical=categorical, columns=cols, n_jobs=1).fit(ref).score(cur)
    return evidently_verdicts(snap), evidently_summary(snap), ours


@pytest.fixture(scope="module")
def runs():
    return {g: _run_group(*g) for g in GROUPS}


@pytest.mark.parametrize("group", GROUPS, ids=[f"seed{g[0]}-ref{g[1]}-cur{g[2]}" for g in GROUPS])
def test_columns_match_evidently(runs, group):
    ev, _, ours = runs[group]
    mine = ours.table.set_index("column")
    assert set(ev["column"]) == set(mine.index)
    problems = []
    for r in ev.itertuples():
        m = mine.loc[r.column]
        if m["method"] != r.method:
            problems.append(f"{r.column}: method {m['method']!r} != {r.method!r}")
        if bool(m["drifted"]) != bool(r.drifted):
            problems.append(f"{r.column}: drifted {m['drifted']} != {r.drifted} (scores {m['score']}, {r.score})")
        if not math.isclose(m["score"], r.score, rel_tol=1e-6, abs_tol=1e-12):
            problems.append(f"{r.column}: score {m['score']!r} != {r.score!r}")
        if not math.isclose(m["threshold"], r.threshold):
            problems.append(f"{r.column}: threshold {m['threshold']} != {r.threshold}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("group", GROUPS, ids=[f"seed{g[0]}" for g in GROUPS])
def test_dataset_verdict_matches_evidently(runs, group):
    _, summary, ours = runs[group]
    assert ours.share_drifted == pytest.approx(summary["share_drifted"])
    assert ours.dataset_drift == summary["dataset_drift"]


def test_cases_cover_every_method_and_both_sides_of_the_switch(runs):
    tables = [ours.table for _, _, ours in runs.values()]
    all_rows = pd.concat(tables)
    assert len(all_rows) >= 100
    used = set(all_rows["stattest"])
    assert set(NUM_METHODS) | set(CAT_METHODS) <= used
    assert all_rows["drifted"].astype(bool).any() and not all_rows["drifted"].astype(bool).all()
    small = all_rows[all_rows["n_ref"] <= 1000]["stattest"]
    large = all_rows[all_rows["n_ref"] > 1000]["stattest"]
    assert {"ks", "chisquare", "z"} <= set(small) and {"wasserstein", "jensenshannon"} <= set(large)


# -- wide integer / count tables, typed by Evidently's own inference (issue 17) ---------------------
def wide_integer_columns(rng, n: int, shift: float) -> dict:
    """~80 int and count columns of low and mixed cardinality, a few floats; every 3rd one moves."""
    cols: dict[str, np.ndarray] = {}
    for i in range(16):  # Poisson counts: 2 to ~20 distinct values
        lam = 0.2 + 0.6 * i
        cols[f"pois_{i}"] = rng.poisson(lam * (1 + shift / 4 if i % 3 == 0 else 1), n)
    for k in range(2, 16):  # codes 0..k-1 around Evidently's 10-value switch
        p = np.full(k, 1 / k) if shift == 0 or k % 3 else np.linspace(1, 2, k) / np.linspace(1, 2, k).sum()
        cols[f"code_{k}"] = rng.choice(k, n, p=p)
    for i in range(10):  # negative binomial counts, wider
        cols[f"nb_{i}"] = rng.negative_binomial(1 + i % 4, 0.25 + 0.05 * i - (0.05 * shift if i % 3 == 0 else 0), n)
    for i in range(10):  # many distinct integers
        cols[f"wide_{i}"] = rng.integers(0, 30 + 25 * i + (int(10 * shift) if i % 3 == 0 else 0), n)
    for i in range(6):  # binary flags
        cols[f"flag_{i}"] = rng.binomial(1, 0.2 + 0.1 * i + (0.1 * shift if i % 3 == 0 else 0), n)
    # across the switch between the two sides: Evidently types by the current frame
    cols["ten_then_twelve"] = rng.integers(0, 10 if shift == 0 else 12, n)
    cols["twelve_then_nine"] = rng.integers(0, 12 if shift == 0 else 9, n)
    cols["eleven_then_ten"] = rng.integers(0, 11 if shift == 0 else 10, n)
    cols["three_then_forty"] = rng.integers(0, 3 if shift == 0 else 40, n)
    cols["const_int"] = np.full(n, 4)
    cols["const_then_two"] = np.full(n, 4) if shift == 0 else rng.integers(4, 6, n)
    cols["big_codes"] = 10**12 + rng.integers(0, 6, n)
    cols["int32_codes"] = rng.integers(0, 7 + int(shift), n).astype(np.int32)
    cols["int8_counts"] = rng.poisson(3 + shift, n).astype(np.int8)
    cols["int16_wide"] = rng.integers(-300, 300, n).astype(np.int16)
    for i in range(8):  # counts stored as float (a missing value on either side), and plain floats
        x = rng.poisson(2 + i + (shift if i % 3 == 0 else 0), n).astype(float)
        if i % 2:
            x[rng.choice(n, n // 50, replace=False)] = np.nan
        cols[f"float_count_{i}"] = x
        cols[f"float_{i}"] = rng.normal(shift / 2 if i % 3 == 0 else 0, 1, n)
    return cols


WIDE_GROUPS = [(31, 900, 700, 0.6), (32, 2000, 1500, 0.5)]  # p-value tests, then distances


@pytest.fixture(scope="module")
def wide_runs():
    out = {}
    for seed, n_ref, n_cur, shift in WIDE_GROUPS:
        rng = np.random.default_rng(seed)
        ref = pd.DataFrame(wide_integer_columns(rng, n_ref, 0.0))
        cur = pd.DataFrame(wide_integer_columns(rng, n_cur, shift))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            snap = evidently_report(ref, cur, None, None, sample=None)  # Evidently infers the types
        ours = DriftDetector(n_jobs=1).fit(ref).score(cur)
        out[seed] = (evidently_verdicts(snap), evidently_summary(snap), ours)
    return out


@pytest.mark.parametrize("seed", [g[0] for g in WIDE_GROUPS])
def test_wide_integer_tables_get_evidentlys_tests_and_verdicts(wide_runs, seed):
    ev, summary, ours = wide_runs[seed]
    mine = ours.table.set_index("column")
    assert len(mine) >= 80 and set(ev["column"]) == set(mine.index)
    problems = []
    for r in ev.itertuples():
        m = mine.loc[r.column]
        if m["method"] != r.method:
            problems.append(f"{r.column}: method {m['method']!r} != {r.method!r} (kind {m['kind']})")
        if bool(m["drifted"]) != bool(r.drifted):
            problems.append(f"{r.column}: drifted {m['drifted']} != {r.drifted} (scores {m['score']}, {r.score})")
        if not math.isclose(m["score"], r.score, rel_tol=1e-6, abs_tol=1e-12):
            problems.append(f"{r.column}: score {m['score']!r} != {r.score!r}")
    assert not problems, "\n".join(problems)
    assert ours.share_drifted == pytest.approx(summary["share_drifted"])
    assert ours.dataset_drift == summary["dataset_drift"]


def test_wide_cases_cover_both_kinds_of_integer_column(wide_runs):
    t = pd.concat([ours.table for _, _, ours in wide_runs.values()]).set_index("column")
    kinds = t.groupby(level=0)["kind"].first()
    assert kinds["code_10"] == "categorical" and kinds["code_11"] == "numeric"
    assert kinds["ten_then_twelve"] == "numeric" and kinds["twelve_then_nine"] == "categorical"
    assert kinds["float_count_0"] == "numeric"  # float dtype: numeric however few values
    assert t["drifted"].astype(bool).any() and not t["drifted"].astype(bool).all()
    assert {"ks", "chisquare", "z", "wasserstein", "jensenshannon"} <= set(t["stattest"])


def test_report_on_a_sample_saves_interactive_html(tmp_path):
    from driftlib.drift.evidently_io import _sample, save_html

    ref, cur, numeric, categorical = make_group(21, 3000, 3000, 0.5)
    assert len(_sample(ref, 400, 0)) == 400 and _sample(ref, 400, 0).index.equals(_sample(ref, 400, 0).index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snap = evidently_report(ref, cur, numeric[:2], categorical[:1], sample=400)
    v = evidently_verdicts(snap)
    assert list(v["column"]) == [*numeric[:2], *categorical[:1]]
    assert v["method"].tolist() == ["K-S p_value"] * 2 + ["chi-square p_value"]  # 400 rows: small-sample tests
    path = save_html(snap, tmp_path / "sub" / "02_evidently_drift.html")
    assert path.stat().st_size > 10_000 and "<html" in path.read_text()[:2000].lower()
    assert not list(path.parent.glob(".*.tmp"))
