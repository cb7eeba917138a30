"""mindchemistry_e3.math (mirrors e3nn.math): radial bases, smooth step, activation normalisation, linalg helpers."""
from ._soft_unit_step import soft_unit_step  # noqa: F401
from ._soft_one_hot_linspace import soft_one_hot_linspace, SoftOneHotLinspace  # noqa: F401
from ._bessel import bessel  # noqa: F401
from ._normalize_activation import moment, normalize2mom  # noqa: F401
from ._linalg import direct_sum, orthonormalize, complete_basis  # noqa: F401
from ._reduce import germinate_formulas, reduce_permutation  # noqa: F401

__all__ = ["soft_unit_step", "soft_one_hot_linspace", "SoftOneHotLinspace", "bessel", "moment", "normalize2mom",
           "direct_sum", "orthonormalize", "complete_basis", "germinate_formulas", "reduce_permutation"]
