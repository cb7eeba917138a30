r"""Irreducible representations of O(3) (:class:`Irrep`) and their direct sums (:class:`Irreps`).

Pure Python data with e3nn 0.6.0's API and semantics (parsing, arithmetic, ``sort``, ``filter``, ...). Only the
``D_from_*`` methods touch MindSpore (imported lazily), so plans can use irreps without importing MindSpore.

>>> Irreps("16x0e + 8x1o").dim
40
>>> Irrep("1o") * Irrep("1o")  # doctest: +ELLIPSIS
<generator object ...>
>>> list(Irrep("1o") * Irrep("1o"))
[0e, 1e, 2e]
"""
import collections
import itertools

import numpy as np

_PARITY_NAMES = {1: "e", -1: "o"}


class _FromAngles:
    """``D_from_quaternion / D_from_matrix / D_from_axis_angle``, all through the class's ``D_from_angles``."""

    def D_from_quaternion(self, q, k=None):
        """Matrix of the representation from quaternions ``(..., 4)``, see ``D_from_angles``."""
        from . import _rotation

        return self.D_from_angles(*_rotation.quaternion_to_angles(q), k)

    def D_from_matrix(self, R):
        """Matrix of the representation from (improper) rotation matrices ``(..., 3, 3)``."""
        return self.D_from_angles(*_matrix_angles_and_k(R))

    def D_from_axis_angle(self, axis, angle):
        """Matrix of the representation from an axis ``(..., 3)`` and an angle ``(...)``."""
        from . import _rotation

        return self.D_from_angles(*_rotation.axis_angle_to_angles(axis, angle))


class Irrep(_FromAngles, tuple):
    r"""An irreducible representation of O(3): degree ``l >= 0`` and parity ``p = +1`` (even) or ``-1`` (odd).

    Built from ``(l, p)``, a string ``"2o"`` (``"ly"`` means parity :math:`(-1)^l`), a ``(l, p)`` tuple or an
    Irrep. Compares and hashes as the tuple ``(l, p)``.

    >>> Irrep(2, -1), Irrep("1y"), Irrep("2o").dim
    (2o, 1o, 5)
    """

    def __new__(cls, l, p=None):
        if p is None:
            if isinstance(l, Irrep):
                return l
            if isinstance(l, _MulIr):
                return l.ir
            if isinstance(l, str):
                name = l.strip()
                try:
                    degree = int(name[:-1])
                    if degree < 0:
                        raise ValueError
                    p = {"e": 1, "o": -1, "y": (-1) ** degree}[name[-1]]
                except (ValueError, KeyError, IndexError):
                    raise ValueError(f'unable to convert string "{name}" into an Irrep') from None
                l = degree
            elif isinstance(l, tuple) and len(l) == 2:
                l, p = l
            else:
                raise ValueError(f"unable to interpret {l!r} as an Irrep")
        if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or l < 0:
            raise ValueError(f"l must be a non-negative integer, got {l!r}")
        if p not in (-1, 1):
            raise ValueError(f"parity must be one of (-1, 1), got {p!r}")
        return super().__new__(cls, (int(l), int(p)))

    @property
    def l(self):  # noqa: E743
        """The degree ``l``."""
        return self[0]

    @property
    def p(self):
        """The parity, +1 or -1."""
        return self[1]

    @property
    def dim(self):
        """Dimension ``2l + 1``."""
        return 2 * self.l + 1

    def is_scalar(self):
        """True for ``0e``."""
        return self.l == 0 and self.p == 1

    def __repr__(self):
        return f"{self.l}{_PARITY_NAMES[self.p]}"

    @classmethod
    def iterator(cls, lmax=None):
        """All irreps in e3nn's order ``0e, 0o, 1o, 1e, 2e, 2o, ...`` (up to ``lmax`` if given).

        >>> it = Irrep.iterator(); [next(it) for _ in range(4)]
        [0e, 0o, 1o, 1e]
        """
        for l in itertools.count():
            yield Irrep(l, (-1) ** l)
            yield Irrep(l, -((-1) ** l))
            if l == lmax:
                break

    def __mul__(self, other):
        """The irreps in the product ``self x other``: a generator of ``|l1-l2|..l1+l2`` with parity ``p1 p2``."""
        other = Irrep(other)
        p = self.p * other.p
        for l in range(abs(self.l - other.l), self.l + other.l + 1):
            yield Irrep(l, p)

    def __rmul__(self, mul):
        """``3 * Irrep("1e")`` -> ``3x1e``."""
        if isinstance(mul, bool) or not isinstance(mul, (int, np.integer)):
            raise TypeError(f"can only multiply an Irrep by an int, got {mul!r}")
        return Irreps([(int(mul), self)])

    def __add__(self, other):
        return Irreps(self) + Irreps(other)

    def __radd__(self, other):
        return Irreps(other) + Irreps(self)

    # e3nn makes len/in/count/index of an Irrep raise; we keep the plain tuple ones, because MindSpore's graph
    # compiler takes len() of every tuple constant it meets (an Irreps attribute of a Cell would not compile).

    # --- representation matrices (MindSpore) -------------------------------------------------------------
    def D_from_angles(self, alpha, beta, gamma, k=None):
        r"""Matrix :math:`p^k D^l(\alpha, \beta, \gamma)`, shape ``(..., 2l+1, 2l+1)`` (MindSpore Tensors)."""
        from mindspore import ops

        from . import _wigner

        alpha, beta, gamma = _broadcast(alpha, beta, gamma)
        d = _wigner.wigner_D(self.l, alpha, beta, gamma)
        if k is None or self.p == 1:
            return d
        k = ops.broadcast_to(k.astype(d.dtype), alpha.shape)
        sign = 1 - 2 * ops.remainder(k, 2)  # (-1)^k for integer-valued k
        return d * sign[..., None, None]



class _MulIr(tuple):
    """``mul`` copies of ``ir``; a pair ``(mul, ir)`` with ``dim == mul * ir.dim``."""

    def __new__(cls, mul, ir=None):
        if ir is None:
            mul, ir = mul
        if isinstance(mul, bool) or not isinstance(mul, (int, np.integer)) or mul < 0:
            raise ValueError(f"multiplicity must be a non-negative integer, got {mul!r}")
        return super().__new__(cls, (int(mul), Irrep(ir)))

    @property
    def mul(self):
        """The multiplicity."""
        return self[0]

    @property
    def ir(self):
        """The irrep."""
        return self[1]

    @property
    def dim(self):
        """``mul * ir.dim``."""
        return self.mul * self.ir.dim

    def __repr__(self):
        return f"{self.mul}x{self.ir}"



def _parse_string(irreps):
    out = []
    if irreps.strip() == "":
        return out
    for term in irreps.split("+"):
        try:
            if "x" in term:
                mul, ir = term.split("x")
                mul = int(mul)
            else:
                mul, ir = 1, term
            if mul < 0:
                raise ValueError
            out.append(_MulIr(mul, Irrep(ir)))
        except ValueError:
            raise ValueError(f'Unable to convert string "{irreps}" into an Irreps (bad term "{term.strip()}")') \
                from None
    return out


class Irreps(_FromAngles, tuple):
    r"""A direct sum of irreps with multiplicities, e.g. ``Irreps("16x0e + 8x1o")``: a tuple of ``(mul, ir)``.

    Built from a string, an :class:`Irrep`, ``None`` (empty) or a list of strings / Irreps / ``(mul, ir)``
    pairs. The data layout is multiplicity-major: ``mul`` copies of ``ir.dim`` components, block after block.

    >>> Irreps("2x0e + 1o").dim, Irreps("2x0e + 1o").slices()
    (5, [slice(0, 2, None), slice(2, 5, None)])
    """

    def __new__(cls, irreps=None):
        if isinstance(irreps, Irreps):
            return super().__new__(cls, irreps)
        if irreps is None:
            out = []
        elif isinstance(irreps, Irrep):
            out = [_MulIr(1, irreps)]
        elif isinstance(irreps, str):
            out = _parse_string(irreps)
        else:
            out = []
            try:
                items = list(irreps)
            except TypeError:
                raise ValueError(f"Unable to interpret {irreps!r} as an Irreps") from None
            for mul_ir in items:
                try:
                    if isinstance(mul_ir, str):
                        out.append(_MulIr(1, Irrep(mul_ir)))
                    elif isinstance(mul_ir, Irrep):
                        out.append(_MulIr(1, mul_ir))
                    elif isinstance(mul_ir, (tuple, list)) and len(mul_ir) == 2:
                        out.append(_MulIr(mul_ir[0], Irrep(mul_ir[1])))
                    else:
                        raise ValueError
                except (ValueError, TypeError):
                    raise ValueError(f'Unable to interpret "{mul_ir}" as an irrep.') from None
        return super().__new__(cls, out)

    @staticmethod
    def spherical_harmonics(lmax, p=-1):
        """Irreps of the spherical harmonics ``0e + 1o + 2e + ...`` up to ``lmax`` (parity ``p**l``).

        >>> Irreps.spherical_harmonics(3)
        1x0e+1x1o+1x2e+1x3o
        """
        return Irreps([(1, (l, p**l)) for l in range(lmax + 1)])

    def slices(self):
        """The slice of each ``(mul, ir)`` block in the flat layout."""
        out, start = [], 0
        for mul_ir in self:
            out.append(slice(start, start + mul_ir.dim))
            start += mul_ir.dim
        return out

    def randn(self, *size, normalization="component", requires_grad=False, dtype=None, device=None, seed=None):
        """A random MindSpore Tensor of shape ``size`` with the ``-1`` replaced by ``self.dim``.

        ``normalization='component'`` draws standard normals; ``'norm'`` gives each irrep unit norm.
        Drawn with numpy (``seed`` optional); ``dtype`` defaults to the default dtype (float32).
        ``requires_grad`` and ``device`` are accepted for e3nn compatibility and ignored (MindSpore differentiates
        with respect to function inputs and places Tensors on the device chosen with ``mindspore.set_device``).

        >>> Irreps("5x0e + 10x1o").randn(5, -1, normalization='norm').shape
        (5, 35)
        """
        import mindspore as ms

        from ..util.dtype import constant

        del requires_grad, device
        if size.count(-1) != 1:
            raise ValueError(f"size must contain exactly one -1 (the irreps axis), got {size}")
        from ..util.dtype import check_float_dtype

        dtype = check_float_dtype(dtype)
        axis = size.index(-1)
        shape = size[:axis] + (self.dim,) + size[axis + 1:]
        rng = np.random.default_rng(seed)
        x = rng.standard_normal(shape)
        if normalization == "norm":
            x = np.moveaxis(x, axis, -1)
            for s, (mul, ir) in zip(self.slices(), self):
                block = x[..., s].reshape(x.shape[:-1] + (mul, ir.dim))
                block = block / np.linalg.norm(block, axis=-1, keepdims=True)
                x[..., s] = block.reshape(x.shape[:-1] + (mul * ir.dim,))
            x = np.moveaxis(x, -1, axis)
        elif normalization != "component":
            raise ValueError(f"normalization must be 'component' or 'norm', got {normalization!r}")
        return constant(x, dtype)

    def __getitem__(self, i):
        x = super().__getitem__(i)
        if isinstance(i, slice):
            return Irreps(x)
        return x

    def __contains__(self, ir):
        ir = Irrep(ir)
        return any(ir == irrep for _, irrep in self)

    def count(self, ir):
        """Total multiplicity of ``ir``.

        >>> Irreps("2x1o + 0e + 3x1o").count("1o")
        5
        """
        ir = Irrep(ir)
        return sum(mul for mul, irrep in self if irrep == ir)

    def index(self, _object):
        raise NotImplementedError

    def __add__(self, irreps):
        return Irreps(super().__add__(Irreps(irreps)))

    def __radd__(self, irreps):
        return Irreps(irreps) + self

    def __mul__(self, other):
        """``Irreps * n`` repeats the list ``n`` times (use a TensorProduct for products of irreps)."""
        if isinstance(other, Irreps):
            raise NotImplementedError("Use o3.TensorProduct for this, see the documentation")
        return Irreps(super().__mul__(other))

    def __rmul__(self, other):
        return Irreps(super().__rmul__(other))

    def simplify(self):
        """Merge consecutive equal irreps and drop zero multiplicities (does not sort).

        >>> Irreps("1e + 1e + 0e + 1e").simplify()
        2x1e+1x0e+1x1e
        """
        out = []
        for mul, ir in self:
            if out and out[-1][1] == ir:
                out[-1] = (out[-1][0] + mul, ir)
            elif mul > 0:
                out.append((mul, ir))
        return Irreps(out)

    def remove_zero_multiplicities(self):
        """Drop the ``0x`` terms."""
        return Irreps([(mul, ir) for mul, ir in self if mul > 0])

    def sort(self):
        """Sort by irrep (``l``, then parity): returns ``(irreps, p, inv)`` with ``sorted[i] == self[inv[i]]``
        and ``p`` the inverse permutation.

        >>> Irreps("2o + 1e + 0e + 1e").sort()
        sort(irreps=1x0e+1x1e+1x1e+1x2o, p=(3, 1, 0, 2), inv=(2, 1, 3, 0))
        """
        ret = collections.namedtuple("sort", ["irreps", "p", "inv"])
        order = sorted((ir, i, mul) for i, (mul, ir) in enumerate(self))
        inv = tuple(i for _, i, _ in order)
        p = tuple(inv.index(i) for i in range(len(inv)))
        return ret(Irreps([(mul, ir) for ir, _, mul in order]), p, inv)

    def regroup(self):
        """``sort`` then ``simplify``.

        >>> Irreps("1e + 0e + 1e + 0x2e").regroup()
        1x0e+2x1e
        """
        return self.sort().irreps.simplify()

    def filter(self, keep=None, *, drop=None, lmax=None):
        """Keep only the irreps in ``keep`` (Irreps, list, or a predicate on ``(mul, ir)``), or drop those in
        ``drop``, or keep ``l <= lmax``. At most one of the three.

        >>> Irreps("1e + 2e + 0e").filter(keep=["0e", "1e"])
        1x1e+1x0e
        """
        given = [name for name, v in (("keep", keep), ("drop", drop), ("lmax", lmax)) if v is not None]
        if not given:
            return self
        if len(given) > 1:
            raise ValueError(f"Cannot specify both {given[0]} and {given[1]}")
        if lmax is not None:
            return Irreps([(mul, ir) for mul, ir in self if ir.l <= lmax])
        selection, negate = (keep, False) if keep is not None else (drop, True)
        if callable(selection) and not isinstance(selection, (str, Irrep, Irreps, _MulIr)):
            return Irreps([mul_ir for mul_ir in self if bool(selection(mul_ir)) != negate])
        if isinstance(selection, str):
            selection = Irreps(selection)
        if isinstance(selection, (Irrep, _MulIr)):
            selection = [selection]
        wanted = {Irrep(ir.ir if isinstance(ir, _MulIr) else ir) for ir in selection}
        return Irreps([(mul, ir) for mul, ir in self if (ir in wanted) != negate])

    @property
    def slice_by_mul(self):
        """``irreps.slice_by_mul[a:b]``: the irreps of copies ``a`` to ``b`` counted over all multiplicities.

        >>> Irreps("3x0e + 2x1o").slice_by_mul[2:4]
        1x0e+1x1o
        """
        return _MulSlicer(self)

    @property
    def dim(self):
        """Total dimension."""
        return sum(mul * ir.dim for mul, ir in self)

    @property
    def num_irreps(self):
        """Total multiplicity."""
        return sum(mul for mul, _ in self)

    @property
    def ls(self):
        """The ``l`` of every copy, in order."""
        return [ir.l for mul, ir in self for _ in range(mul)]

    @property
    def lmax(self):
        """The largest ``l`` (ValueError when empty)."""
        if self.num_irreps == 0:
            raise ValueError(f"Cannot get lmax of empty Irreps ({self!r})")
        return max(self.ls)

    def __repr__(self):
        return "+".join(repr(mul_ir) for mul_ir in self)

    # --- representation matrices (MindSpore) -------------------------------------------------------------
    def D_from_angles(self, alpha, beta, gamma, k=None):
        r"""Block-diagonal matrix of the representation, shape ``(..., dim, dim)`` (MindSpore Tensors)."""
        blocks = []
        for mul, ir in self:
            d = ir.D_from_angles(alpha, beta, gamma, k)
            blocks.extend([d] * mul)
        return _direct_sum(blocks, _broadcast(alpha, beta, gamma)[0])



class _MulSlicer:
    def __init__(self, irreps):
        self.irreps = irreps

    def __getitem__(self, index):
        if not isinstance(index, slice):
            raise IndexError("Irreps.slice_by_mul only supports slices.")
        start, stop, stride = index.indices(self.irreps.num_irreps)
        if stride != 1:
            raise NotImplementedError("Irreps.slice_by_mul does not support strides.")
        out, i = [], 0
        for mul, ir in self.irreps:
            lo, hi = max(start, i), min(stop, i + mul)
            if (start <= i and i + mul <= stop) or (start < i + mul and i < stop):  # overlaps (e3nn keeps 0x)
                out.append((hi - lo, ir))
            i += mul
        return Irreps(out)


def _broadcast(*tensors):
    from mindspore import ops

    shape = ()
    for t in tensors:
        shape = np.broadcast_shapes(shape, tuple(t.shape))
    return tuple(ops.broadcast_to(t, shape) if tuple(t.shape) != shape else t for t in tensors)


def _matrix_angles_and_k(R):
    """Split an O(3) matrix into SO(3) angles and the parity count k = (1 - det R) / 2."""
    from mindspore import ops

    from . import _rotation

    det = ops.det(R) if hasattr(ops, "det") else ops.matrix_determinant(R)
    d = ops.sign(det)
    k = (1 - d) / 2
    return (*_rotation.matrix_to_angles(R * d[..., None, None]), k)


def _direct_sum(blocks, like):
    """Block-diagonal matrix from square blocks ``(..., n_i, n_i)``."""
    from mindspore import ops

    if not blocks:
        return ops.zeros(tuple(like.shape) + (0, 0), like.dtype)
    dims = [b.shape[-1] for b in blocks]
    total = sum(dims)
    rows, start = [], 0
    for b, n in zip(blocks, dims):
        pieces = []
        if start:
            pieces.append(ops.zeros(tuple(b.shape[:-1]) + (start,), b.dtype))
        pieces.append(b)
        if total - start - n:
            pieces.append(ops.zeros(tuple(b.shape[:-1]) + (total - start - n,), b.dtype))
        rows.append(ops.concat(pieces, axis=-1) if len(pieces) > 1 else b)
        start += n
    return ops.concat(rows, axis=-2) if len(rows) > 1 else rows[0]
