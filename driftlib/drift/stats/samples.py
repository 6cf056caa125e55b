"""One column of one side (reference or a current window), reduced to what the stat tests read.

The reference side is built once at `fit` and reused for every window: sorted finite values, the
standard deviation, unique values with counts and prefix sums live here, computed lazily and cached.
Nulls and +-inf are dropped first, as Evidently does, so every test sees the same cleaned values.
"""
from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import pandas as pd

NUMERIC = "numeric"
CATEGORICAL = "categorical"
LARGE = 2.0 ** 200  # past this magnitude sums and squares of float64 values can overflow


def scale_for(lo, hi) -> float:
    """1.0 for ordinary magnitudes; otherwise a power of two `s` with |v / s| < 2 on [lo, hi].

    Dividing by a power of two is exact, so a score computed on v / s and scaled back equals the
    unscaled one wherever that one does not overflow, and stays finite where it would (1e308 rows).
    """
    m = max(abs(float(lo)), abs(float(hi)))
    if not math.isfinite(m) or m <= LARGE:
        return 1.0
    return math.ldexp(1.0, math.frexp(m)[1] - 1)


def numeric_array(values) -> tuple[np.ndarray, bool]:
    """Values as int64 (integer dtypes without nulls), float32 (kept) or float64 (NaN for nulls), and
    whether integer.

    The dtype matters for exactness: numpy's Sturges rule floors the bin width at 1 for integer data,
    and computes float32 edges for float32 data. Raises TypeError for non-numeric data.
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        s = s.astype("float64") if s.hasnans else s.astype("int64")
        dtype = s.dtype
    if not pd.api.types.is_numeric_dtype(dtype):
        raise TypeError(f"dtype {dtype} is not numeric")
    if pd.api.types.is_integer_dtype(dtype) and not s.hasnans:
        return s.to_numpy(dtype=np.int64), True
    if dtype == np.float32:
        return s.to_numpy(), False
    return s.to_numpy(dtype=np.float64, na_value=np.nan), False


class NumericSample:
    """Finite values of a numeric column, sorted once."""

    kind = NUMERIC

    def __init__(self, sorted_values: np.ndarray, integer: bool):
        self.values = sorted_values
        self.integer = integer

    @classmethod
    def from_array(cls, arr: np.ndarray, integer: bool) -> "NumericSample":
        """`arr` as returned by `numeric_array` (or a slice of it)."""
        if not integer:
            finite = np.isfinite(arr)
            if not finite.all():
                arr = arr[finite]
                arr.sort()
                return cls(arr, integer)
        return cls(np.sort(arr), integer)

    @classmethod
    def from_values(cls, values) -> "NumericSample":
        return cls.from_array(*numeric_array(values))

    @property
    def n(self) -> int:
        return int(self.values.size)

    @property
    def min(self):
        return self.values[0]

    @property
    def max(self):
        return self.values[-1]

    @cached_property
    def scale(self) -> float:
        """`scale_for` of this sample's range (1.0 unless values are beyond `LARGE`)."""
        return scale_for(self.values[0], self.values[-1]) if self.values.size and not self.integer else 1.0

    @cached_property
    def std(self) -> float:
        """Population std, computed on values / scale so 1e308 values do not overflow the squares."""
        s = self.scale
        if s == 1.0:
            return float(np.std(self.values.astype(np.float64, copy=False)))
        return float(np.std(self.as_float / s)) * s

    @cached_property
    def unique(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted unique values, their counts) from the sorted values in one pass."""
        v = self.values
        if v.size == 0:
            return v, np.zeros(0, dtype=np.int64)
        starts = np.flatnonzero(np.concatenate(([True], v[1:] != v[:-1])))
        counts = np.diff(np.append(starts, v.size))
        return v[starts], counts

    @cached_property
    def n_unique(self) -> int:
        v = self.values
        return int(np.count_nonzero(v[1:] != v[:-1])) + 1 if v.size else 0

    @cached_property
    def as_float(self) -> np.ndarray:
        """The sorted values as float64 (the same array when already float): searchsorted on an int
        array with float keys would convert the whole array on every call."""
        return self.values.astype(np.float64, copy=False)

    @cached_property
    def shift(self) -> float:
        """A central value subtracted before prefix sums, so they do not lose digits to an offset."""
        return float(self.values[self.values.size // 2]) if self.values.size else 0.0

    @cached_property
    def prefix(self) -> np.ndarray:
        """prefix[k] = sum of the k smallest values minus `shift` each, in units of `scale` (prefix[0] = 0)."""
        return scaled_prefix(self.as_float, self.shift, self.scale)

    @cached_property
    def as_categorical(self) -> "CategoricalSample":
        """The same values counted as categories (for an integer column Evidently would type categorical)."""
        keys, counts = self.unique
        return CategoricalSample(np.asarray(keys, dtype=object), counts, 0)


def scaled_prefix(values: np.ndarray, shift: float, scale: float) -> np.ndarray:
    """Cumulative sums of (values - shift) / scale with a leading 0; exact as unscaled when scale is 1."""
    out = np.empty(values.size + 1)
    out[0] = 0.0
    if scale == 1.0:
        np.cumsum(values - shift, out=out[1:])
    else:
        np.cumsum(values / scale - shift / scale, out=out[1:])
    return out


class CategoricalSample:
    """Counts per category. A current sample's first `n_ref_keys` keys are the reference's, in order."""

    kind = CATEGORICAL

    def __init__(self, keys: np.ndarray, counts: np.ndarray, n_ref_keys: int = 0):
        self.keys = keys
        self.counts = counts
        self.n_ref_keys = n_ref_keys

    @classmethod
    def from_values(cls, values) -> "CategoricalSample":
        return cls.from_codes(*encode(values), n_ref_keys=0)

    @classmethod
    def from_codes(cls, codes: np.ndarray, keys: np.ndarray, n_ref_keys: int) -> "CategoricalSample":
        """`codes` index `keys` (reference keys first, then unseen ones); -1 marks a dropped value."""
        counts = np.bincount(codes[codes >= 0], minlength=len(keys))
        new = np.flatnonzero(counts[n_ref_keys:] > 0) + n_ref_keys
        keep = np.concatenate((np.arange(n_ref_keys), new))
        return cls(keys[keep], counts[keep], n_ref_keys)

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def n_unique(self) -> int:
        return int(np.count_nonzero(self.counts))


def _drop_inf(codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Evidently replaces +-inf by NaN before dropping nulls, in categorical columns too."""
    bad = np.flatnonzero(pd.Series(keys, dtype=object).isin([np.inf, -np.inf]).to_numpy())
    if bad.size:
        codes = np.where(np.isin(codes, bad), -1, codes)
    return codes


def encode(values, reference_keys: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for `values` (-1 for null/inf) and the key array they index.

    With `reference_keys`, those keys come first in their order and unseen values after them, so
    counts line up with the reference without another hash pass.
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        return _encode_categorical(s, reference_keys)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    codes = _drop_inf(codes.astype(np.int64, copy=False), uniques)
    if reference_keys is None:
        return codes, uniques
    pos = pd.Index(reference_keys, dtype=object).get_indexer(pd.Index(uniques, dtype=object))
    unseen = np.flatnonzero(pos < 0)
    pos[unseen] = len(reference_keys) + np.arange(unseen.size)
    keys = np.concatenate((np.asarray(reference_keys, dtype=object), uniques[unseen]))
    lookup = np.append(pos, -1).astype(np.int64, copy=False)  # the last slot answers code -1 (null)
    return lookup[codes], keys


def _encode_categorical(s: pd.Series, reference_keys: np.ndarray | None,
                        head: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """`encode` of a pandas categorical (how Parquet text is read) from its small integer codes: the
    same keys in the same order (first appearance, as `pd.factorize`) and the same codes, through one
    lookup per row instead of hashing every value again."""
    codes = s.cat.codes.to_numpy()
    categories = np.asarray(s.cat.categories, dtype=object)
    present = np.flatnonzero(np.bincount(codes.astype(np.int64) + 1, minlength=len(categories) + 1)[1:])
    order = pd.unique(codes[:head])
    order = order[order >= 0]
    if order.size < present.size:  # a category first appears past the head: order them all
        order = pd.unique(codes)
        order = order[order >= 0]
    uniques = categories[order]
    position = np.arange(order.size, dtype=np.int64)
    position[_drop_inf(position, uniques) < 0] = -1
    keys = uniques
    if reference_keys is not None:
        pos = pd.Index(reference_keys, dtype=object).get_indexer(pd.Index(uniques, dtype=object))
        unseen = np.flatnonzero(pos < 0)
        pos[unseen] = len(reference_keys) + np.arange(unseen.size)
        keys = np.concatenate((np.asarray(reference_keys, dtype=object), uniques[unseen]))
        position = np.where(position >= 0, pos, -1)
    lookup = np.full(len(categories) + 1, -1, dtype=np.int64)  # the last slot answers code -1 (null)
    lookup[order] = position
    return lookup[codes], keys


def sample(values, kind: str):
    """A reference sample of `values` for a column of `kind`."""
    return NumericSample.from_values(values) if kind == NUMERIC else CategoricalSample.from_values(values)
