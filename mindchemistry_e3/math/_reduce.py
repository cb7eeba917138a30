r"""e3nn's ``math.germinate_formulas`` and ``math.reduce_permutation``: index symmetries of a tensor.

A formula such as ``"ij=-ji"`` says that exchanging the two indices flips the sign. :func:`germinate_formulas`
closes the given signed permutations into a group; :func:`reduce_permutation` returns an orthonormal basis of the
tensors with those symmetries. Both are computed once in numpy (:mod:`mindchemistry_e3.o3._reduce_np`, the plan
of ``ReducedTensorProducts``) and follow e3nn 0.6.0's ordering.

>>> f0, formulas = germinate_formulas("ijk=jik=ikj")
>>> f0, len(formulas)
('ijk', 6)
"""
from ..util.dtype import check_float_dtype, constant

__all__ = ["germinate_formulas", "reduce_permutation"]


def germinate_formulas(formula):
    r"""The first index string of ``formula`` and the group of signed permutations its terms generate.

    Args:
        formula (str): e.g. ``"ij=-ji"`` (a ``-`` may start a term; every term permutes the first one).

    Returns:
        ``(f0, formulas)``: the first term and a set of ``(sign, permutation)``; the permutation ``p`` maps ``f0``
        to ``"".join(f0[i] for i in p)``.

    Raises:
        ValueError: a term that is not a permutation of the first, or a signed first term.

    Examples:
        >>> f0, formulas = germinate_formulas("ij=-ji")
        >>> f0, sorted(formulas)
        ('ij', [(-1, (1, 0)), (1, (0, 1))])
    """
    from ..o3._reduce_np import germinate_formulas as germinate  # pylint: disable=import-outside-toplevel

    return germinate(formula)


def reduce_permutation(f0, formulas, dtype=None, device=None, **dims):
    r"""Orthonormal basis of the tensors (one axis per index of ``f0``, of size ``dims[index]``) with the
    symmetries ``formulas``.

    Args:
        f0 (str): the indices.
        formulas (set): ``(sign, permutation)`` pairs, as returned by :func:`germinate_formulas`.
        dtype (mindspore.dtype): dtype of the basis. Default: the default dtype.
        device: accepted for e3nn compatibility and ignored (Tensors go to the device of ``mindspore.set_device``).
        **dims (int): size of each index (one per orbit of the formulas is enough).

    Returns:
        ``(Q, ret)``: ``Q`` of shape ``(d_sym, *dims)`` and, for each row, the signed index tuples it spans.

    Raises:
        ValueError: an index without a size, or two exchanged indices with different sizes.

    Examples:
        >>> Q, ret = reduce_permutation(*germinate_formulas("ij=-ji"), i=2)
        >>> Q.shape, len(ret)
        ((1, 2, 2), 1)
    """
    from ..o3._reduce_np import reduce_permutation as reduce  # pylint: disable=import-outside-toplevel

    del device
    basis, ret = reduce(f0, formulas, dims)
    return constant(basis, check_float_dtype(dtype)), ret
