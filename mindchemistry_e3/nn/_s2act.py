r"""Pointwise activation of a signal on the sphere (e3nn's ``nn.S2Activation``).

.. math:: \{A^l\}_l \mapsto \Big\{\int \phi\big(\textstyle\sum_l A^l \cdot Y^l(x)\big)\, Y^j(x)\, dx\Big\}_j

evaluated on the grid of :class:`~mindchemistry_e3.o3.ToS2Grid`: to the grid (two matrix products), the activation
:math:`\phi` (normalised to unit second moment, e3nn's ``normalize2mom``), back with
:class:`~mindchemistry_e3.o3.FromS2Grid` (two matrix products).
"""

import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ..math import normalize2mom
from ..o3 import FromS2Grid, Irreps, ToS2Grid
from ..o3._wigner import wigner_D
from ..util.dtype import check_float_dtype
from ..util.second_order import SecondOrderGuard


def _s2_parities(irreps):
    """(lmax, p_val, p_arg) of irreps ``[(1, (l, p_val p_arg^l)) for l <= lmax]``; ValueError otherwise."""
    irreps = Irreps(irreps).simplify()
    if len(irreps) == 0:
        raise ValueError("S2Activation needs non-empty irreps of the form 1x0 + 1x1 + ... + 1xlmax")
    if any(mul != 1 for mul, _ in irreps) or irreps.ls != list(range(irreps.lmax + 1)):
        raise ValueError(
            f"S2Activation expects irreps [(1, (l, p_val * p_arg**l)) for l in 0..lmax] (one copy of each l), "
            f"got {irreps}"
        )
    p_val = irreps[0].ir.p
    if all(ir.p == p_val for _, ir in irreps):
        p_arg = 1
    elif all(ir.p == p_val * (-1) ** ir.l for _, ir in irreps):
        p_arg = -1
    else:
        raise ValueError(f"the parity of the input {irreps} is not well defined (neither p_val nor p_val (-1)^l)")
    return irreps, irreps.lmax, p_val, p_arg


def _activation_parity(act):
    """+1 (even), -1 (odd) or 0 (neither) for an elementwise activation, tested on [0, 10] as e3nn does."""
    x = np.linspace(0.0, 10.0, 256)
    a1 = act(ms.Tensor(x, ms.float64)).asnumpy().astype(np.float64)
    a2 = act(ms.Tensor(-x, ms.float64)).asnumpy().astype(np.float64)
    scale = np.abs(a1).max()
    if np.abs(a1 - a2).max() < scale * 1e-10:
        return 1
    if np.abs(a1 + a2).max() < scale * 1e-10:
        return -1
    return 0


class S2Activation(SecondOrderGuard, nn.Cell):
    r"""Apply a pointwise nonlinearity to a signal on the sphere given by its spherical-harmonic coefficients.

    Args:
        irreps (Irreps): ``[(1, (l, p_val * p_arg**l)) for l in 0..lmax]``, e.g. ``io.SphericalTensor(lmax, p_val,
            p_arg)``.
        act (Callable): elementwise activation :math:`\phi` (MindSpore function or Cell).
        res (int or tuple of int): resolution of the grid (the higher, the more accurate).
        normalization (str): ``'component'`` (default), ``'norm'`` or ``'integral'``.
        lmax_out (int, optional): highest ``l`` of the output (default: the input's).
        random_rot (bool): rotate the grid randomly at each call. Default False.
        dtype (mindspore.dtype): dtype of the tables (keyword). Default: the default dtype (``get_default_dtype()``).

    Attributes:
        irreps_in, irreps_out (Irreps).

    Inputs:
        - **features** (Tensor) - shape ``(..., irreps_in.dim)``.

    Outputs:
        Tensor of shape ``(..., irreps_out.dim)``.

    Raises:
        ValueError: irreps not of the spherical-signal form, or an activation that breaks the parity
            (``p_val = -1`` with an activation neither even nor odd).

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> import mindspore as ms
        >>> from mindchemistry_e3 import io
        >>> m = S2Activation(io.SphericalTensor(3, p_val=1, p_arg=-1), ms.ops.tanh, 20)
        >>> m(ms.ops.ones((2, 16), ms.float32)).shape
        (2, 16)
    """

    def __init__(self, irreps, act, res, normalization="component", lmax_out=None, random_rot=False, *,
                 dtype=None):
        super().__init__()
        dtype = check_float_dtype(dtype)
        irreps, lmax, p_val, p_arg = _s2_parities(irreps)
        self.irreps_in = irreps
        if lmax_out is None:
            lmax_out = lmax
        if p_val == 1:
            p_out = 1
        else:
            p_act = _activation_parity(act)
            if p_act == 0:
                raise ValueError(
                    f"S2Activation: the input {irreps} is odd (p_val=-1) and the activation {act!r} is neither even "
                    "nor odd, so the parity would be violated"
                )
            p_out = p_act
        self.irreps_out = Irreps([(1, (l, p_out * p_arg ** l)) for l in range(lmax_out + 1)])
        self.to_s2 = ToS2Grid(lmax, res, normalization=normalization, dtype=dtype)
        self.from_s2 = FromS2Grid(res, lmax_out, normalization=normalization, lmax_in=lmax, dtype=dtype)
        self.act = normalize2mom(act, dtype)
        self.random_rot = bool(random_rot)
        self._two_pi = ms.Tensor(2 * np.pi, ms.float64)
        self._blocks_in = tuple((s.start, s.stop, ir.l) for s, (_, ir) in zip(irreps.slices(), irreps))
        self._blocks_out = tuple((s.start, s.stop, ir.l) for s, (_, ir) in zip(self.irreps_out.slices(),
                                                                               self.irreps_out))
        self._dim_in = irreps.dim

    def __repr__(self):
        return f"{self.__class__.__name__} ({self.irreps_in} -> {self.irreps_out})"

    def _rotate(self, features, blocks, alpha, beta, gamma, transpose):
        """features @ D(alpha, beta, gamma)^T (or @ D when ``transpose``), block by block (one block per l)."""
        outs = []
        for start, stop, l in blocks:
            d = wigner_D(l, alpha, beta, gamma)
            block = features[..., start:stop]
            outs.append(ops.matmul(block, d if transpose else d.T))
        return ops.concat(outs, -1) if len(outs) > 1 else outs[0]

    def _random_angles(self, dtype):
        u = ops.rand((3,), dtype=dtype)
        two_pi = ops.cast(self._two_pi, dtype)
        one = ops.ones((), dtype)
        return u[0] * two_pi, ops.acos(u[1] * (one + one) - one), u[2] * two_pi

    def construct(self, features):
        if features.shape[-1] != self._dim_in:
            raise ValueError(
                f"S2Activation({self.irreps_in}) expects features of shape (..., {self._dim_in}), "
                f"got {features.shape}"
            )
        if self.random_rot:
            alpha, beta, gamma = self._random_angles(features.dtype)
            features = self._rotate(features, self._blocks_in, alpha, beta, gamma, False)
        features = self.to_s2(features)  # [..., beta, alpha]
        features = self.act(features)
        features = self.from_s2(features)
        if self.random_rot:
            features = self._rotate(features, self._blocks_out, alpha, beta, gamma, True)
        return features


__all__ = ["S2Activation"]
