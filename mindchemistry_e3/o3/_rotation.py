r"""Rotations of 3D space in four parametrisations, with e3nn 0.6.0's conventions.

* **Euler angles** :math:`(\alpha, \beta, \gamma)`, Y-X-Y convention:
  :math:`R(\alpha, \beta, \gamma) = R_y(\alpha) R_x(\beta) R_y(\gamma)` (:math:`\gamma` is applied first).
* **matrices** :math:`R`, shape ``(..., 3, 3)``, acting on column vectors :math:`x \mapsto R x`.
* **quaternions** :math:`q = (w, x, y, z)`, shape ``(..., 4)``, unit norm; :math:`q` and :math:`-q` are the same
  rotation.
* **axis-angle** ``(axis, angle)``: shapes ``(..., 3)`` and ``(...)``; the axis need not be normalised.

A point on the sphere is :math:`\vec r(\alpha, \beta) = R(\alpha, \beta, 0)\, \hat e_y = (\sin\beta \sin\alpha,
\cos\beta, \sin\beta\cos\alpha)` (:func:`angles_to_xyz` / :func:`xyz_to_angles`).

Every conversion and composition is a pure MindSpore function: Tensors in, Tensors out, batched (broadcast) over
the leading axes, differentiable, and usable inside a Cell's ``construct`` in GRAPH_MODE. Float64 inputs give
float64-accurate results (no Python-float constants other than exact ones such as 1/2 touch the data).

The random constructors (:func:`rand_matrix`, :func:`rand_angles`, :func:`rand_quaternion`,
:func:`rand_axis_angle`) draw in numpy float64 and cast to ``dtype``. Their ``seed`` keyword selects the random
source: ``None`` (default) uses numpy's global legacy state (so ``np.random.seed(0)`` makes them reproducible),
an ``int`` seeds a fresh ``np.random.default_rng``, and a ``np.random.Generator`` is used as is. They are meant
for building inputs and tests, not for use inside a compiled graph. ``requires_grad`` and ``device`` are
accepted for compatibility with e3nn and ignored (MindSpore differentiates with respect to function inputs, and
places Tensors on the device chosen with ``mindspore.set_device``).

Unlike e3nn, :func:`matrix_to_angles` and :func:`matrix_to_axis_angle` do not check :math:`\det R = 1` (a value
check cannot run inside a compiled graph); pass proper rotations, or use ``Irrep.D_from_matrix`` for
improper ones.

>>> import mindspore as ms
>>> R = rand_matrix(2, dtype=ms.float64, seed=0)
>>> a, b, c = matrix_to_angles(R)
>>> bool((angles_to_matrix(a, b, c) - R).abs().max() < 1e-12)
True
"""
import math

import numpy as np
import mindspore as ms
from mindspore import ops

from ..util.dtype import check_float_dtype, constant

__all__ = [
    "rand_matrix",
    "identity_angles",
    "rand_angles",
    "compose_angles",
    "inverse_angles",
    "identity_quaternion",
    "rand_quaternion",
    "compose_quaternion",
    "inverse_quaternion",
    "rand_axis_angle",
    "compose_axis_angle",
    "matrix_x",
    "matrix_y",
    "matrix_z",
    "angles_to_matrix",
    "matrix_to_angles",
    "angles_to_quaternion",
    "matrix_to_quaternion",
    "axis_angle_to_quaternion",
    "quaternion_to_axis_angle",
    "matrix_to_axis_angle",
    "angles_to_axis_angle",
    "axis_angle_to_matrix",
    "quaternion_to_matrix",
    "quaternion_to_angles",
    "axis_angle_to_angles",
    "angles_to_xyz",
    "xyz_to_angles",
]


# ----------------------------------------------------------------------------------------------------------------
# helpers (pure Python on static shapes, or MindSpore ops: all graph-mode clean)


def _broadcast_shape(*shapes):
    """numpy's broadcasting rule on shape tuples (raises ValueError on a mismatch)."""
    ndim = 0
    for s in shapes:
        ndim = max(ndim, len(s))
    out = []
    for i in range(ndim):
        size = 1
        for s in shapes:
            k = i - (ndim - len(s))
            if k >= 0 and s[k] != 1:
                if size not in (1, s[k]):
                    raise ValueError(f"shapes {shapes} cannot be broadcast together")
                size = s[k]
        out.append(size)
    return tuple(out)


def _broadcast(*tensors):
    """Broadcast tensors to their common shape (like ``torch.broadcast_tensors``)."""
    shape = _broadcast_shape(*[t.shape for t in tensors])
    return tuple(t if t.shape == shape else ops.broadcast_to(t, shape) for t in tensors)


def _check_last(x, sizes, name):
    """Raise ValueError unless the trailing dimensions of ``x`` are ``sizes``."""
    n = len(sizes)
    if len(x.shape) < n or tuple(x.shape[len(x.shape) - n:]) != tuple(sizes):
        raise ValueError(f"{name} must have shape (..., {', '.join(str(s) for s in sizes)}), got {x.shape}")


def _normalize(x):
    """x / |x| along the last axis; a zero vector stays zero (NaN-free value and gradients)."""
    r2 = (x * x).sum(-1, keepdims=True)
    nonzero = r2 > 0
    r = ops.sqrt(ops.where(nonzero, r2, ops.ones_like(r2)))
    return x / r


def _mT(x):
    """Swap the last two axes."""
    return x.swapaxes(-1, -2)


def _rng(seed):
    if seed is None:
        return np.random
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise ValueError(f"seed must be None, an int or a numpy Generator, got {seed!r}")


def _check_shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"shape must be non-negative integers, got {shape}")
    return tuple(int(s) for s in shape)


def _np_rand_angles(shape, seed):
    rng = _rng(seed)
    u = rng.random((3,) + shape)
    alpha = 2 * math.pi * u[0]
    gamma = 2 * math.pi * u[1]
    beta = np.arccos(np.clip(2 * u[2] - 1, -1.0, 1.0))
    return np.asarray(alpha), np.asarray(beta), np.asarray(gamma)


# ----------------------------------------------------------------------------------------------------------------
# random / identity constructors (numpy float64, cast to dtype)


def rand_matrix(*shape, requires_grad=False, dtype=None, device=None, seed=None):
    r"""Random rotation matrices, uniform (Haar) on SO(3).

    Args:
        *shape (int): batch shape.
        requires_grad (bool): accepted for e3nn compatibility and ignored: MindSpore differentiates with respect to
            the inputs of a function (``mindspore.grad``), not flagged Tensors.
        dtype (mindspore.dtype): floating dtype of the result. Default: the default dtype (``get_default_dtype()``).
        device: accepted for e3nn compatibility and ignored: Tensors go to the device chosen with
            ``mindspore.set_device``.
        seed (None, int, numpy.random.Generator): random source, see the module docstring.

    Returns:
        Tensor of shape ``(*shape, 3, 3)``.

    Examples:
        >>> rand_matrix(5, seed=1).shape
        (5, 3, 3)
    """
    del requires_grad, device
    dtype = check_float_dtype(dtype)
    shape = _check_shape(shape)
    a, b, c = _np_rand_angles(shape, seed)
    r = _np_matrix_y(a) @ _np_matrix_x(b) @ _np_matrix_y(c)
    return constant(r, dtype)


def identity_angles(*shape, requires_grad=False, dtype=None, device=None):
    r"""Euler angles of the identity rotation: three zero Tensors of shape ``shape``.

    Examples:
        >>> a, b, c = identity_angles(2, 3)
        >>> a.shape
        (2, 3)
    """
    del requires_grad, device
    dtype = check_float_dtype(dtype)
    shape = _check_shape(shape)
    return tuple(constant(np.zeros(shape), dtype) for _ in range(3))


def rand_angles(*shape, requires_grad=False, dtype=None, device=None, seed=None):
    r"""Euler angles of uniformly random rotations: :math:`\alpha, \gamma \sim U[0, 2\pi)`,
    :math:`\beta = \arccos(U[-1, 1])`.

    Args:
        *shape (int): batch shape.
        requires_grad (bool): accepted for e3nn compatibility and ignored: MindSpore differentiates with respect to
            the inputs of a function (``mindspore.grad``), not flagged Tensors.
        dtype (mindspore.dtype): floating dtype of the result. Default: the default dtype (``get_default_dtype()``).
        device: accepted for e3nn compatibility and ignored: Tensors go to the device chosen with
            ``mindspore.set_device``.
        seed (None, int, numpy.random.Generator): random source, see the module docstring.

    Returns:
        Tuple ``(alpha, beta, gamma)`` of Tensors of shape ``shape``.

    Examples:
        >>> alpha, beta, gamma = rand_angles(10, seed=0)
        >>> beta.shape
        (10,)
    """
    del requires_grad, device
    dtype = check_float_dtype(dtype)
    shape = _check_shape(shape)
    return tuple(constant(x, dtype) for x in _np_rand_angles(shape, seed))


def identity_quaternion(*shape, requires_grad=False, dtype=None, device=None):
    r"""Quaternion :math:`(1, 0, 0, 0)` of the identity, shape ``(*shape, 4)``.

    Examples:
        >>> identity_quaternion(2).asnumpy().tolist()
        [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    """
    del requires_grad, device
    dtype = check_float_dtype(dtype)
    shape = _check_shape(shape)
    q = np.zeros(shape + (4,))
    q[..., 0] = 1.0
    return constant(q, dtype)


def rand_quaternion(*shape, requires_grad=False, dtype=None, device=None, seed=None):
    r"""Unit quaternions of uniformly random rotations, shape ``(*shape, 4)``.

    Args:
        *shape (int): batch shape.
        requires_grad (bool): accepted for e3nn compatibility and ignored: MindSpore differentiates with respect to
            the inputs of a function (``mindspore.grad``), not flagged Tensors.
        dtype (mindspore.dtype): floating dtype of the result. Default: the default dtype (``get_default_dtype()``).
        device: accepted for e3nn compatibility and ignored: Tensors go to the device chosen with
            ``mindspore.set_device``.
        seed (None, int, numpy.random.Generator): random source, see the module docstring.

    Examples:
        >>> rand_quaternion(3, seed=0).shape
        (3, 4)
    """
    del requires_grad, device
    dtype = check_float_dtype(dtype)
    shape = _check_shape(shape)
    angles = [ms.Tensor(x, ms.float64) for x in _np_rand_angles(shape, seed)]
    return angles_to_quaternion(*angles).astype(dtype)


def rand_axis_angle(*shape, requires_grad=False, dtype=None, device=None, seed=None):
    r"""Uniformly random rotations as ``(axis, angle)``: unit axes ``(*shape, 3)``, angles in
    :math:`[0, \pi]` of shape ``shape``.

    Args:
        *shape (int): batch shape.
        requires_grad (bool): accepted for e3nn compatibility and ignored: MindSpore differentiates with respect to
            the inputs of a function (``mindspore.grad``), not flagged Tensors.
        dtype (mindspore.dtype): floating dtype of the result. Default: the default dtype (``get_default_dtype()``).
        device: accepted for e3nn compatibility and ignored: Tensors go to the device chosen with
            ``mindspore.set_device``.
        seed (None, int, numpy.random.Generator): random source, see the module docstring.

    Examples:
        >>> axis, angle = rand_axis_angle(4, seed=0)
        >>> axis.shape, angle.shape
        ((4, 3), (4,))
    """
    del requires_grad, device
    dtype = check_float_dtype(dtype)
    shape = _check_shape(shape)
    angles = [ms.Tensor(x, ms.float64) for x in _np_rand_angles(shape, seed)]
    axis, angle = angles_to_axis_angle(*angles)
    return axis.astype(dtype), angle.astype(dtype)


def _np_matrix_x(t):
    c, s, o, z = np.cos(t), np.sin(t), np.ones_like(t), np.zeros_like(t)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _np_matrix_y(t):
    c, s, o, z = np.cos(t), np.sin(t), np.ones_like(t), np.zeros_like(t)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


# ----------------------------------------------------------------------------------------------------------------
# elementary rotations


def matrix_x(angle):
    r"""Rotation matrices about the x axis, shape ``(..., 3, 3)`` for ``angle`` of shape ``(...)``.

    Examples:
        >>> import mindspore as ms
        >>> matrix_x(ms.Tensor([0.0])).asnumpy()[0].tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        True
    """
    c = ops.cos(angle)
    s = ops.sin(angle)
    o = ops.ones_like(angle)
    z = ops.zeros_like(angle)
    return ops.stack([ops.stack([o, z, z], -1), ops.stack([z, c, -s], -1), ops.stack([z, s, c], -1)], -2)


def matrix_y(angle):
    r"""Rotation matrices about the y axis, shape ``(..., 3, 3)`` for ``angle`` of shape ``(...)``.

    Examples:
        >>> import mindspore as ms
        >>> matrix_y(ms.Tensor([1.0, 2.0])).shape
        (2, 3, 3)
    """
    c = ops.cos(angle)
    s = ops.sin(angle)
    o = ops.ones_like(angle)
    z = ops.zeros_like(angle)
    return ops.stack([ops.stack([c, z, s], -1), ops.stack([z, o, z], -1), ops.stack([-s, z, c], -1)], -2)


def matrix_z(angle):
    r"""Rotation matrices about the z axis, shape ``(..., 3, 3)`` for ``angle`` of shape ``(...)``.

    Examples:
        >>> import mindspore as ms
        >>> matrix_z(ms.Tensor(0.5)).shape
        (3, 3)
    """
    c = ops.cos(angle)
    s = ops.sin(angle)
    o = ops.ones_like(angle)
    z = ops.zeros_like(angle)
    return ops.stack([ops.stack([c, -s, z], -1), ops.stack([s, c, z], -1), ops.stack([z, z, o], -1)], -2)


# ----------------------------------------------------------------------------------------------------------------
# angles


def compose_angles(a1, b1, c1, a2, b2, c2):
    r"""Euler angles of :math:`R(a_1, b_1, c_1) R(a_2, b_2, c_2)` (the second rotation is applied first).

    Examples:
        >>> import mindspore as ms
        >>> a, b, c = compose_angles(*rand_angles(3, seed=0), *identity_angles(3))
        >>> a.shape
        (3,)
    """
    a1, b1, c1, a2, b2, c2 = _broadcast(a1, b1, c1, a2, b2, c2)
    return matrix_to_angles(angles_to_matrix(a1, b1, c1) @ angles_to_matrix(a2, b2, c2))


def inverse_angles(a, b, c):
    r"""Euler angles of the inverse rotation: :math:`(-\gamma, -\beta, -\alpha)`.

    Examples:
        >>> import mindspore as ms
        >>> [float(x) for x in inverse_angles(ms.Tensor(1.0), ms.Tensor(2.0), ms.Tensor(3.0))]
        [-3.0, -2.0, -1.0]
    """
    return -c, -b, -a


def angles_to_matrix(alpha, beta, gamma):
    r"""Matrix :math:`R_y(\alpha) R_x(\beta) R_y(\gamma)`, shape ``(..., 3, 3)``.

    Examples:
        >>> import mindspore as ms
        >>> R = angles_to_matrix(*rand_angles(4, seed=0))
        >>> R.shape
        (4, 3, 3)
    """
    alpha, beta, gamma = _broadcast(alpha, beta, gamma)
    return ops.matmul(ops.matmul(matrix_y(alpha), matrix_x(beta)), matrix_y(gamma))


def matrix_to_angles(R):
    r"""Euler angles ``(alpha, beta, gamma)`` of rotation matrices ``R`` (shape ``(..., 3, 3)``, det +1).

    Examples:
        >>> import mindspore as ms
        >>> a, b, c = matrix_to_angles(rand_matrix(2, dtype=ms.float64, seed=0))
        >>> a.shape, a.dtype == ms.float64
        ((2,), True)
    """
    _check_last(R, (3, 3), "R")
    x = R[..., :, 1]  # R e_y
    a, b = xyz_to_angles(x)
    R = ops.matmul(_mT(angles_to_matrix(a, b, ops.zeros_like(a))), R)
    c = ops.atan2(R[..., 0, 2], R[..., 0, 0])
    return a, b, c


# ----------------------------------------------------------------------------------------------------------------
# quaternions


def compose_quaternion(q1, q2):
    r"""Hamilton product :math:`q_1 q_2` (the rotation of :math:`q_2` is applied first), shape ``(..., 4)``.

    Examples:
        >>> q = rand_quaternion(2, seed=0)
        >>> bool((compose_quaternion(q, identity_quaternion(2)) - q).abs().max() < 1e-6)
        True
    """
    _check_last(q1, (4,), "q1")
    _check_last(q2, (4,), "q2")
    q1, q2 = _broadcast(q1, q2)
    w1, x1, y1, z1 = q1[..., 0], q1[..., 1], q1[..., 2], q1[..., 3]
    w2, x2, y2, z2 = q2[..., 0], q2[..., 1], q2[..., 2], q2[..., 3]
    return ops.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        -1,
    )


def inverse_quaternion(q):
    r"""Inverse :math:`(w, -x, -y, -z)` of unit quaternions.

    Examples:
        >>> import mindspore as ms
        >>> inverse_quaternion(ms.Tensor([1.0, 2.0, 3.0, 4.0])).asnumpy().tolist()
        [1.0, -2.0, -3.0, -4.0]
    """
    _check_last(q, (4,), "q")
    return ops.concat([q[..., :1], -q[..., 1:]], -1)


def angles_to_quaternion(alpha, beta, gamma):
    r"""Unit quaternion of :math:`R_y(\alpha) R_x(\beta) R_y(\gamma)`, shape ``(..., 4)``.

    Examples:
        >>> angles_to_quaternion(*identity_angles(1)).asnumpy().tolist()
        [[1.0, 0.0, 0.0, 0.0]]
    """
    alpha, beta, gamma = _broadcast(alpha, beta, gamma)
    z = ops.zeros_like(alpha)
    qa = ops.stack([ops.cos(alpha / 2), z, ops.sin(alpha / 2), z], -1)
    qb = ops.stack([ops.cos(beta / 2), ops.sin(beta / 2), z, z], -1)
    qc = ops.stack([ops.cos(gamma / 2), z, ops.sin(gamma / 2), z], -1)
    return compose_quaternion(qa, compose_quaternion(qb, qc))


def matrix_to_quaternion(R):
    r"""Unit quaternion (with :math:`w \geq 0`) of rotation matrices ``R``, shape ``(..., 4)``.

    Examples:
        >>> matrix_to_quaternion(rand_matrix(3, seed=0)).shape
        (3, 4)
    """
    return axis_angle_to_quaternion(*matrix_to_axis_angle(R))


def axis_angle_to_quaternion(xyz, angle):
    r"""Quaternion :math:`(\cos\frac\theta2, \hat n \sin\frac\theta2)` from an axis ``(..., 3)`` (any norm) and
    an angle ``(...)``.

    Examples:
        >>> import mindspore as ms
        >>> q = axis_angle_to_quaternion(ms.Tensor([0.0, 0.0, 2.0]), ms.Tensor(0.0))
        >>> q.asnumpy().tolist()
        [1.0, 0.0, 0.0, 0.0]
    """
    _check_last(xyz, (3,), "axis")
    shape = _broadcast_shape(xyz.shape[:-1], angle.shape)
    xyz = ops.broadcast_to(xyz, shape + (3,))
    angle = ops.broadcast_to(angle, shape)
    xyz = _normalize(xyz)
    c = ops.cos(angle / 2)
    s = ops.sin(angle / 2)
    return ops.concat([ops.expand_dims(c, -1), xyz * ops.expand_dims(s, -1)], -1)


def quaternion_to_axis_angle(q):
    r"""``(axis, angle)`` of unit quaternions ``q`` (shape ``(..., 4)``); the axis is normalised, the angle is
    :math:`2\arccos w \in [0, 2\pi]`.

    Examples:
        >>> axis, angle = quaternion_to_axis_angle(rand_quaternion(2, seed=0))
        >>> axis.shape, angle.shape
        ((2, 3), (2,))
    """
    _check_last(q, (4,), "q")
    angle = 2 * ops.acos(ops.clamp(q[..., 0], -1, 1))
    axis = _normalize(q[..., 1:])
    return axis, angle


def matrix_to_axis_angle(R):
    r"""``(axis, angle)`` of rotation matrices ``R`` (shape ``(..., 3, 3)``, det +1), angle in :math:`[0, \pi]`.

    Examples:
        >>> axis, angle = matrix_to_axis_angle(rand_matrix(2, seed=0))
        >>> angle.shape
        (2,)
    """
    _check_last(R, (3, 3), "R")
    trace = R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2]
    angle = ops.acos(ops.clamp((trace - 1) / 2, -1, 1))
    axis = ops.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    return _normalize(axis), angle


def angles_to_axis_angle(alpha, beta, gamma):
    r"""``(axis, angle)`` of the rotation with Euler angles ``(alpha, beta, gamma)``.

    Examples:
        >>> axis, angle = angles_to_axis_angle(*rand_angles(2, seed=0))
        >>> axis.shape
        (2, 3)
    """
    return matrix_to_axis_angle(angles_to_matrix(alpha, beta, gamma))


def axis_angle_to_matrix(axis, angle):
    r"""Rotation matrix of angle ``angle`` (shape ``(...)``) about ``axis`` (shape ``(..., 3)``, any norm).

    Examples:
        >>> import mindspore as ms
        >>> R = axis_angle_to_matrix(ms.Tensor([0.0, 1.0, 0.0]), ms.Tensor(0.3))
        >>> bool((R - matrix_y(ms.Tensor(0.3))).abs().max() < 1e-6)
        True
    """
    _check_last(axis, (3,), "axis")
    shape = _broadcast_shape(axis.shape[:-1], angle.shape)
    axis = ops.broadcast_to(axis, shape + (3,))
    angle = ops.broadcast_to(angle, shape)
    alpha, beta = xyz_to_angles(axis)
    R = angles_to_matrix(alpha, beta, ops.zeros_like(beta))
    return ops.matmul(ops.matmul(R, matrix_y(angle)), _mT(R))


def quaternion_to_matrix(q):
    r"""Rotation matrix of unit quaternions ``q``, shape ``(..., 3, 3)``.

    Examples:
        >>> quaternion_to_matrix(identity_quaternion()).asnumpy().tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    return axis_angle_to_matrix(*quaternion_to_axis_angle(q))


def quaternion_to_angles(q):
    r"""Euler angles ``(alpha, beta, gamma)`` of unit quaternions ``q``.

    Examples:
        >>> a, b, c = quaternion_to_angles(rand_quaternion(5, seed=0))
        >>> a.shape
        (5,)
    """
    return matrix_to_angles(quaternion_to_matrix(q))


def axis_angle_to_angles(axis, angle):
    r"""Euler angles ``(alpha, beta, gamma)`` of the rotation ``(axis, angle)``.

    Examples:
        >>> import mindspore as ms
        >>> a, b, c = axis_angle_to_angles(ms.Tensor([[0.0, 1.0, 0.0]]), ms.Tensor([0.5]))
        >>> round(float(a[0] + c[0]), 6)
        0.5
    """
    return matrix_to_angles(axis_angle_to_matrix(axis, angle))


def compose_axis_angle(axis1, angle1, axis2, angle2):
    r"""``(axis, angle)`` of the rotation ``(axis1, angle1)`` applied after ``(axis2, angle2)``.

    Examples:
        >>> axis, angle = compose_axis_angle(*rand_axis_angle(2, seed=0), *rand_axis_angle(2, seed=1))
        >>> angle.shape
        (2,)
    """
    return quaternion_to_axis_angle(
        compose_quaternion(axis_angle_to_quaternion(axis1, angle1), axis_angle_to_quaternion(axis2, angle2))
    )


# ----------------------------------------------------------------------------------------------------------------
# points on the sphere


def angles_to_xyz(alpha, beta):
    r"""Point :math:`(\sin\beta\sin\alpha, \cos\beta, \sin\beta\cos\alpha)` on the unit sphere, shape ``(..., 3)``.

    Examples:
        >>> import mindspore as ms
        >>> angles_to_xyz(ms.Tensor(1.7), ms.Tensor(0.0)).abs().asnumpy().tolist()
        [0.0, 1.0, 0.0]
    """
    alpha, beta = _broadcast(alpha, beta)
    sb = ops.sin(beta)
    return ops.stack([sb * ops.sin(alpha), ops.cos(beta), sb * ops.cos(alpha)], -1)


def xyz_to_angles(xyz):
    r"""Angles ``(alpha, beta)`` with :math:`\hat r = R(\alpha, \beta, 0)\, \hat e_y` for points ``xyz``
    (shape ``(..., 3)``, any nonzero norm; the zero vector gives :math:`\alpha = 0, \beta = \pi/2`).

    Examples:
        >>> import mindspore as ms
        >>> a, b = xyz_to_angles(ms.Tensor([0.0, 0.0, 2.0]))
        >>> float(a), round(float(b), 6)
        (0.0, 1.570796)
    """
    _check_last(xyz, (3,), "xyz")
    xyz = ops.clamp(_normalize(xyz), -1, 1)
    beta = ops.acos(xyz[..., 1])
    alpha = ops.atan2(xyz[..., 0], xyz[..., 2])
    return alpha, beta
