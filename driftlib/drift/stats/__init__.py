"""Two-sample stat tests for drift, equivalent to Evidently 0.7's, chosen by name or by its default rule.

    from driftlib.drift.stats import sample, get_stat_test, default_stat_test
    ref, cur = sample(ref_values, "numeric"), sample(cur_values, "numeric")
    test = get_stat_test("psi", "numeric")
    score = test.score(ref, cur); test.drifted(score, 0.1)
"""
from driftlib.drift.stats.binning import n_unique_union
from driftlib.drift.stats.methods import STAT_TESTS, StatTest, register
from driftlib.drift.stats.registry import available, default_stat_test, get_stat_test
from driftlib.drift.stats.samples import (
    CATEGORICAL,
    NUMERIC,
    CategoricalSample,
    NumericSample,
    encode,
    numeric_array,
    sample,
)

__all__ = [
    "CATEGORICAL", "NUMERIC", "STAT_TESTS", "CategoricalSample", "NumericSample", "StatTest",
    "available", "default_stat_test", "encode", "get_stat_test", "n_unique_union", "numeric_array",
    "register", "sample",
]
