"""Stat tests: the fast paths equal numpy/scipy/Evidently, the registry chooses as Evidently chooses."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from driftlib.core.errors import ConfigError
from driftlib.drift.stats import STAT_TESTS, default_stat_test, encode, get_stat_test, sample
from driftlib.drift.stats.binning import fill_zeroes, hist_counts, sturges_edges
from driftlib.drift.stats.methods import wasserstein_sorted
from driftlib.drift.stats.samples import CategoricalSample, NumericSample

floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
ints = st.integers(-1000, 1000)


@settings(max_examples=200, deadline=None)
@given(st.one_of(arrays(np.float64, st.integers(1, 60), elements=floats),
                 arrays(np.float32, st.integers(1, 60), elements=st.floats(-1e4, 1e4, width=32)),
                 arrays(np.int64, st.integers(1, 60), elements=ints)))
def test_sturges_edges_equal_numpy(x):
    edges = sturges_edges(x.min(), x.max(), x.size, x.dtype)
    try:
        expected = np.histogram_bin_edges(x, bins="sturges")
    except ValueError:  # numpy cannot bin a subnormal range ([0, 1e-45] float32): nothing to equal
        assert np.all(np.isfinite(edges))
        return
    assert edges.dtype == expected.dtype
    np.testing.assert_array_equal(edges, expected)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.integers(1, 80), elements=st.floats(-50, 50)), st.integers(1, 12))
def test_hist_counts_equal_numpy_histogram(x, bins):
    edges = np.histogram_bin_edges(x, bins=bins)
    np.testing.assert_array_equal(hist_counts(np.sort(x), edges), np.histogram(x, edges)[0])


@settings(max_examples=150, deadline=None)
@given(st.one_of(arrays(np.float64, st.integers(1, 70), elements=floats),
                 arrays(np.int64, st.integers(1, 70), elements=st.integers(0, 6))),
       st.one_of(arrays(np.float64, st.integers(1, 70), elements=floats),
                 arrays(np.int64, st.integers(1, 70), elements=st.integers(0, 8))),
       st.sampled_from([1e9, 0.0, -3.5]))
def test_wasserstein_equals_scipy(r, c, offset):
    r, c = r + offset, c + offset
    ref = NumericSample.from_values(pd.Series(r))
    expected = stats.wasserstein_distance(r, c)
    got = wasserstein_sorted(ref, np.sort(c), block=7)  # small blocks exercise the block loop
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-6 * max(1.0, np.abs(r).max() * 1e-9))


def test_wasserstein_large_samples_match_scipy_closely():
    rng = np.random.default_rng(3)
    r, c = rng.normal(5, 2, 200_000), rng.normal(5.1, 2, 70_000)
    ref = NumericSample.from_values(pd.Series(r))
    assert wasserstein_sorted(ref, np.sort(c)) == pytest.approx(stats.wasserstein_distance(r, c), rel=1e-10)


def _evidently_score(name, ref, cur, kind):
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
    from evidently.legacy.core import ColumnType

    ct = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    r = pd.Series(ref).replace([np.inf, -np.inf], np.nan).dropna()
    c = pd.Series(cur).replace([np.inf, -np.inf], np.nan).dropna()
    test = next(iter(_registered_stat_tests[name].values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = test(r, c, ct, None)
    return res.drift_score, res.drifted


def _data(case, rng):
    n, m = 1500, 900
    if case == "continuous":
        return rng.normal(0, 1, n), np.append(rng.normal(0.15, 1.2, m), [np.nan, np.inf, -np.inf])
    if case == "integers":
        return rng.integers(0, 40, n), rng.integers(0, 45, m)
    if case == "few_values":
        return rng.integers(0, 4, n), rng.integers(0, 5, m)
    if case == "categories":
        return (rng.choice(["a", "b", "c", "d"], n, p=[.4, .3, .2, .1]).astype(object),
                np.append(rng.choice(["a", "b", "c", "e"], m).astype(object), [None, np.nan]))
    if case == "binary":
        return rng.choice(["x", "y"], n).astype(object), rng.choice(["x", "y"], m, p=[.6, .4]).astype(object)
    raise ValueError(case)


CASES = [(name, case) for name in ["ks", "wasserstein", "jensenshannon", "psi", "kl_div", "hellinger"]
         for case in ["continuous", "integers", "few_values"]]
CASES += [(name, case) for name in ["chisquare", "z", "jensenshannon", "psi", "kl_div", "hellinger"]
          for case in ["categories", "binary"]]


@pytest.mark.parametrize("name,case", CASES)
def test_each_method_equals_evidentlys_function(name, case):
    rng = np.random.default_rng(len(name) * 31 + len(case))
    ref, cur = _data(case, rng)
    kind = "categorical" if case in ("categories", "binary") else "numeric"
    expected, expected_drift = _evidently_score(name, ref, cur, kind)
    test = STAT_TESTS[name]
    got = test.score(sample(pd.Series(ref), kind), sample(pd.Series(cur), kind))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert test.drifted(got, test.default_threshold) == bool(expected_drift)


@pytest.mark.parametrize("kind,n_ref,n_unique,expected", [
    ("numeric", 1000, 6, "ks"), ("numeric", 1000, 5, "chisquare"), ("numeric", 1000, 3, "chisquare"),
    ("numeric", 1000, 2, "z"), ("numeric", 1001, 6, "wasserstein"), ("numeric", 1001, 5, "jensenshannon"),
    ("numeric", 5000, 1, "jensenshannon"), ("categorical", 10, 3, "chisquare"), ("categorical", 10, 2, "z"),
    ("categorical", 1000, 1, "z"), ("categorical", 1001, 50, "jensenshannon"),
    ("categorical", 2000, 2, "jensenshannon"),
])
def test_default_choice_follows_evidentlys_table(kind, n_ref, n_unique, expected):
    assert default_stat_test(kind, n_ref, n_unique).name == expected


def test_display_names_thresholds_and_rules_are_evidentlys():
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    for name, test in STAT_TESTS.items():
        theirs = next(iter(_registered_stat_tests[name].values()))
        assert test.display_name == theirs.display_name
        assert test.default_threshold == theirs.default_threshold
        assert {k.value for k in _registered_stat_tests[name]} == {
            {"numeric": "num", "categorical": "cat"}[k] for k in test.kinds}


def test_comparisons_at_the_threshold_are_evidentlys():
    assert STAT_TESTS["ks"].drifted(0.05, 0.05)  # p <= t
    assert not STAT_TESTS["chisquare"].drifted(0.05, 0.05)  # p < t
    assert not STAT_TESTS["z"].drifted(0.05, 0.05)
    for name in ("wasserstein", "jensenshannon", "psi", "kl_div", "hellinger"):
        assert STAT_TESTS[name].drifted(0.1, 0.1)  # score >= t
        assert not STAT_TESTS[name].drifted(0.0999, 0.1)


def test_unknown_or_inapplicable_method_is_a_config_error_naming_the_field():
    with pytest.raises(ConfigError, match=r"drift.columns.age.method: unknown stat test 'kss'"):
        get_stat_test("kss", "numeric", where="drift.columns.age.method")
    with pytest.raises(ConfigError, match="does not apply to a categorical column"):
        get_stat_test("ks", "categorical")
    with pytest.raises(ConfigError, match="does not apply to a numeric column"):
        get_stat_test("chisquare", "numeric")


def test_strength_is_one_at_the_threshold_and_grows_with_drift():
    ks, w = STAT_TESTS["ks"], STAT_TESTS["wasserstein"]
    assert ks.strength(0.05, 0.05) == pytest.approx(1.0)
    assert ks.strength(1e-10, 0.05) > ks.strength(0.001, 0.05) > 1 > ks.strength(0.5, 0.05)
    assert math.isfinite(ks.strength(0.0, 0.05))
    assert w.strength(0.3, 0.1) == pytest.approx(3.0)
    assert math.isnan(w.strength(float("nan"), 0.1))


def test_encode_puts_reference_keys_first_and_drops_nulls_and_inf():
    codes, keys = encode(pd.Series(["b", None, "z", "a", np.inf, "z", np.nan]), np.array(["a", "b"], dtype=object))
    assert list(keys[:3]) == ["a", "b", "z"]
    assert list(codes) == [1, -1, 2, 0, -1, 2, -1]
    cur = CategoricalSample.from_codes(codes, keys, n_ref_keys=2)
    assert list(cur.keys) == ["a", "b", "z"] and list(cur.counts) == [1, 1, 2] and cur.n == 4


def test_numeric_sample_drops_nan_and_inf_and_keeps_integer_flag():
    s = NumericSample.from_values(pd.Series([3, 1, None, 2], dtype="Int64"))
    assert list(s.values) == [1, 2, 3] and not s.integer  # nulls present: floats, as Evidently sees them
    s = NumericSample.from_values(pd.Series([3.0, np.inf, -np.inf, np.nan, 1.0]))
    assert list(s.values) == [1.0, 3.0] and s.n == 2
    assert NumericSample.from_values(pd.Series([5, 1, 1])).integer
    with pytest.raises(TypeError):
        NumericSample.from_values(pd.Series(["a", "b"]))


def test_fill_zeroes_matches_evidently_rule():
    np.testing.assert_allclose(fill_zeroes(np.array([0.5, 0.0, 0.5])), [0.5, 1e-4, 0.5])
    np.testing.assert_allclose(fill_zeroes(np.array([0.99995, 0.0, 0.00005])), [0.99995, 5e-11, 0.00005])


# -- scipy called lazily (issue 14): the replacements return scipy's floats ------------------------
shares = arrays(np.float64, st.integers(1, 40), elements=st.floats(0, 1e6))


@settings(max_examples=300, deadline=None)
@given(shares, shares)
def test_jensenshannon_and_kl_are_scipys_floats(p, q):
    from scipy.spatial import distance

    from driftlib.drift.stats.methods import jensenshannon, kl_divergence

    n = min(p.size, q.size)
    p, q = p[:n], q[:n]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        expected_js, expected_kl = distance.jensenshannon(p, q), stats.entropy(p, q)
        got_js, got_kl = jensenshannon(p, q), kl_divergence(p, q)
    np.testing.assert_array_equal(got_js, expected_js)  # bit for bit, NaN where scipy gives NaN
    np.testing.assert_array_equal(got_kl, expected_kl)


@pytest.mark.parametrize("z", [0.0, 0.3, -1.7, 2.5, 8.2, 40.0, np.inf, -np.inf, np.nan])
def test_z_test_tail_is_scipys_norm_cdf(z):
    from scipy.special import ndtr

    np.testing.assert_array_equal(ndtr(np.abs(z)), stats.norm.cdf(np.abs(z)))


def test_z_test_on_counts_equals_the_scipy_formula():
    rng = np.random.default_rng(5)
    for _ in range(20):
        share = rng.uniform(0.2, 0.8)
        r, c = rng.choice(["a", "b"], 300), rng.choice(["a", "b"], 200, p=[share, 1 - share])
        n1, n2 = len(r), len(c)
        p1, p2 = float(np.sum(r != "a")) / n1, float(np.sum(c != "a")) / n2
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        got = STAT_TESTS["z"].score(sample(pd.Series(r), "categorical"), sample(pd.Series(c), "categorical"))
        assert got == float(2 * (1 - stats.norm.cdf(np.abs(z))))


def test_loading_the_detector_imports_no_scipy_stats():
    """scipy.stats costs ~1 s per `driftlib drift` process; only the tests that need it import it."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, pandas as pd\n"
            "from driftlib.drift.detector import DriftDetector\n"
            "assert 'scipy.stats' not in sys.modules and 'scipy.spatial' not in sys.modules, 'at import'\n"
            "rng = np.random.default_rng(0)\n"
            "df = lambda s: pd.DataFrame({'x': rng.normal(s, 1, 5000), 'c': rng.choice(list('abc'), 5000)})\n"
            "DriftDetector(numeric=['x'], categorical=['c']).fit(df(0)).score(df(1))\n"
            "print(sorted(m for m in ('scipy.stats', 'scipy.spatial') if m in sys.modules))\n"
            "DriftDetector(numeric=['x'], categorical=['c']).fit(df(0).head(500)).score(df(1).head(500))\n"
            "print('scipy.stats' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "True"]  # large reference: none; KS on a small one loads it



@settings(max_examples=300, deadline=None)
@given(arrays(np.int64, st.integers(0, 80), elements=st.integers(0, 9)),
       arrays(np.int64, st.integers(0, 80), elements=st.integers(-2, 12)))
def test_sorted_positions_equal_a_full_searchsorted(r, c):
    """Ties, values past either end, empty sides: the stretch searched gives numpy's positions."""
    from driftlib.drift.stats.methods import sorted_positions

    r, c = np.sort(r).astype(float), np.sort(c).astype(float)
    np.testing.assert_array_equal(sorted_positions(r, c), r.searchsorted(c, "left"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", None, "inf"]), min_size=0, max_size=60),
       st.lists(st.sampled_from(["a", "b", "e", "c"]), max_size=4, unique=True),
       st.sampled_from([None, ["b", "a"], ["x", "c", "a"]]), st.integers(1, 8))
def test_encode_of_a_categorical_equals_encode_of_its_values(values, unused, ref_keys, head):
    """Parquet text arrives as pandas categoricals: the code path via their codes must give the very
    codes and keys (in order) that factorizing the values gives, with unused categories, nulls, inf
    and categories first seen after the head."""
    from driftlib.drift.stats.samples import _encode_categorical

    raw = [np.inf if v == "inf" else v for v in values]
    cats = list(dict.fromkeys([v for v in raw if v is not None] + unused))
    cat = pd.Series(pd.Categorical(raw, categories=cats[::-1]))
    ref = None if ref_keys is None else np.array(ref_keys, dtype=object)
    expected_codes, expected_keys = encode(pd.Series(raw, dtype=object), ref)
    got_codes, got_keys = _encode_categorical(cat, ref, head=head)
    np.testing.assert_array_equal(got_codes, expected_codes)
    assert got_codes.dtype == expected_codes.dtype
    assert list(got_keys) == list(expected_keys)
    got_codes, got_keys = encode(cat, ref)
    np.testing.assert_array_equal(got_codes, expected_codes)
