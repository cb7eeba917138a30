"""Seeded train / validation / test split of frame indices."""
import numpy as np


def count_or_fraction(x, n, what):
    """``x`` frames out of ``n``: a count ``>= 0`` or a fraction in (0, 1) (None stays None); ``what`` names it."""
    if x is None:
        return None
    if isinstance(x, float) and 0 < x < 1:
        return int(round(x * n))
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 0:
        return int(x)
    raise ValueError(f"{what} must be a count >= 0 or a fraction in (0, 1), got {x!r}")


def train_val_test_split(num_frames, n_train, n_val, n_test=None, seed=0):
    """Disjoint random index sets, reproducible from ``seed`` (``numpy.random.default_rng(seed)``).

    Args:
        num_frames (int): number of frames.
        n_train, n_val (int or float): counts, or fractions of ``num_frames`` in (0, 1).
        n_test (int or float, optional): count or fraction; None = all remaining frames.
        seed (int): permutation seed.

    Returns:
        (train, val, test) int64 index arrays, each sorted.

    Examples:
        >>> tr, va, te = train_val_test_split(10, 6, 2, seed=1)
        >>> len(tr), len(va), len(te), len(set(tr) | set(va) | set(te))
        (6, 2, 2, 10)
    """
    num_frames = int(num_frames)
    n_train = count_or_fraction(n_train, num_frames, "split: n_train")
    n_val = count_or_fraction(n_val, num_frames, "split: n_val")
    n_test = count_or_fraction(n_test, num_frames, "split: n_test")
    if n_test is None:
        n_test = num_frames - n_train - n_val
    if n_train + n_val + n_test > num_frames or n_test < 0:
        raise ValueError(f"split: n_train={n_train} + n_val={n_val} + n_test={n_test} exceeds the "
                         f"{num_frames} frames")
    perm = np.random.default_rng(seed).permutation(num_frames)
    a, b = n_train, n_train + n_val
    return np.sort(perm[:a]), np.sort(perm[a:b]), np.sort(perm[b:b + n_test])
