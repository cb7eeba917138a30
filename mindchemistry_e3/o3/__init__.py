"""mindchemistry_e3.o3: irreducible representations of O(3), rotations, spherical harmonics, tensor products.

Mirrors ``e3nn.o3``.
"""
from ._irreps import Irrep, Irreps  # noqa: F401
from . import irrep  # noqa: F401
from ._spherical_harmonics import SphericalHarmonics, spherical_harmonics  # noqa: F401
from ._angular_spherical_harmonics import (  # noqa: F401
    SphericalHarmonicsAlphaBeta,
    spherical_harmonics_alpha_beta,
    spherical_harmonics_alpha,
    Legendre,
)
from ._rotation import (  # noqa: F401
    rand_matrix,
    identity_angles,
    rand_angles,
    compose_angles,
    inverse_angles,
    identity_quaternion,
    rand_quaternion,
    compose_quaternion,
    inverse_quaternion,
    rand_axis_angle,
    compose_axis_angle,
    matrix_x,
    matrix_y,
    matrix_z,
    angles_to_matrix,
    matrix_to_angles,
    angles_to_quaternion,
    matrix_to_quaternion,
    axis_angle_to_quaternion,
    quaternion_to_axis_angle,
    matrix_to_axis_angle,
    angles_to_axis_angle,
    axis_angle_to_matrix,
    quaternion_to_matrix,
    quaternion_to_angles,
    axis_angle_to_angles,
    angles_to_xyz,
    xyz_to_angles,
)
from ._reduce import ReducedTensorProducts  # noqa: F401
from ._linear import Linear  # noqa: F401
from ._stacked import StackedSum  # noqa: F401
from ._norm import Norm  # noqa: F401
from ._wigner import wigner_D, wigner_3j, su2_generators, so3_generators, change_basis_real_to_complex  # noqa: F401
from ._s2grid import s2_grid, spherical_harmonics_s2_grid, rfft, irfft, ToS2Grid, FromS2Grid  # noqa: F401
from ._so3grid import SO3Grid  # noqa: F401
from ._tensor_product import (  # noqa: F401
    Instruction,
    TensorProduct,
    FullyConnectedTensorProduct,
    FullTensorProduct,
    ElementwiseTensorProduct,
    TensorSquare,
    TensorProductConv,
    uvu_instructions,
)
from ._tensor_product_v2 import FullTensorProductv2  # noqa: F401
from ._visualize import visualize as _draw_paths

# e3nn's TensorProduct.visualize (the drawing lives in _visualize.py; this line is its only hook)
TensorProduct.visualize = _draw_paths
