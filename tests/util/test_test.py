"""Tests of util.test: assert_equivariant passes on equivariant functions and Cells, fails on the others."""
import random

import numpy as np
import mindspore as ms
import pytest
from mindspore import nn, ops

from mindchemistry_e3 import o3
from mindchemistry_e3.util.test import (
    assert_equivariant,
    equivariance_error,
    format_equivariance_error,
    random_irreps,
    set_random_seeds,
)


class _CrossAndCouple(nn.Cell):
    """(x: 1o, y: 2e) -> (x cross x2: 1e, |x|^2: 0e, (x (x) y) projected on 1o with the 3j symbol: 1o)."""

    def __init__(self, dtype=ms.float64):
        super().__init__()
        self.irreps_in = [o3.Irreps("2x1o"), o3.Irreps("2e")]
        self.irreps_out = [o3.Irreps("1e"), o3.Irreps("0e"), o3.Irreps("1o")]
        self.c = o3.wigner_3j(1, 2, 1, dtype=dtype).reshape(15, 3)

    def construct(self, x, y):
        a = x[:, :3]
        b = x[:, 3:]
        cross = ops.cross(a, b, dim=-1)
        norm = (a * a).sum(-1, keepdims=True)
        outer = (ops.expand_dims(a, -1) * ops.expand_dims(y, -2)).reshape(-1, 15)
        return cross, norm, ops.matmul(outer, self.c)


def test_passes_on_equivariant_cell(mode):
    set_random_seeds(0)
    errors = assert_equivariant(_CrossAndCouple())
    assert sorted(errors) == [(0, False), (1, False)]
    for err in errors.values():
        assert err.shape == (3,) and err.dtype == np.float64
        assert err.max() < 1e-12


def test_float32_cell_gets_float32_inputs_and_tolerance():
    set_random_seeds(1)
    cell = _CrossAndCouple(dtype=ms.float32)
    args = [ms.Tensor(np.random.randn(3, 6), ms.float32), ms.Tensor(np.random.randn(3, 5), ms.float32)]
    errors = assert_equivariant(cell, args)
    assert 0 < max(e.max() for e in errors.values()) < 1e-4  # float32 rounding shows, well under 1e-3


def test_generated_inputs_follow_the_cell_parameters_dtype():
    class _MixScalars(nn.Cell):
        def __init__(self):
            super().__init__()
            self.irreps_in = o3.Irreps("3x0e")
            self.irreps_out = o3.Irreps("2x0e")
            self.w = ms.Parameter(ms.Tensor(np.random.randn(3, 2), ms.float32))

        def construct(self, x):
            assert x.dtype == ms.float32  # a float64 input would also fail in the matmul below
            return ops.matmul(x, self.w)

    set_random_seeds(6)
    assert_equivariant(_MixScalars())


def test_detects_wrong_parity():
    # the cross product of two polar vectors is axial; declaring it polar is only wrong under parity
    def cross(a, b):
        return ops.cross(a, b, dim=-1)

    set_random_seeds(2)
    args = [o3.Irreps("1o").randn(4, -1, dtype=ms.float64, seed=s) for s in (0, 1)]
    errors = equivariance_error(cross, args, irreps_in=["1o", "1o"], irreps_out="1o")
    assert errors[(0, False)].max() < 1e-12
    assert errors[(1, False)].max() > 1e-2
    assert_equivariant(cross, args, irreps_in=["1o", "1o"], irreps_out="1o", do_parity=False)
    with pytest.raises(AssertionError, match=r"parity_k=1, did_translate=False"):
        assert_equivariant(cross, args, irreps_in=["1o", "1o"], irreps_out="1o")


def test_detects_non_equivariant_functions(mode):
    class _Permute(nn.Cell):
        def __init__(self):
            super().__init__()
            self.irreps_in = o3.Irreps("1o")
            self.irreps_out = o3.Irreps("1o")

        def construct(self, x):
            return ops.concat([x[:, 1:2], x[:, 0:1], x[:, 2:3]], -1)

    set_random_seeds(3)
    with pytest.raises(AssertionError, match="equivariance error was too large"):
        assert_equivariant(_Permute(), ntrials=2)

    def shift(x):
        return x + 1e-6  # breaks equivariance by 1e-6: caught in float64 (tol 1e-9), not in float32 (tol 1e-3)

    x64 = o3.Irreps("2e").randn(3, -1, dtype=ms.float64, seed=0)
    with pytest.raises(AssertionError):
        assert_equivariant(shift, [x64], irreps_in="2e", irreps_out="2e")
    assert_equivariant(shift, [x64.astype(ms.float32)], irreps_in="2e", irreps_out="2e")
    assert_equivariant(shift, [x64], irreps_in="2e", irreps_out="2e", tolerance=1e-5)


def test_cartesian_points_and_passthrough_arguments():
    def pair_energy(pos, edges):
        # depends on pos only through distances: invariant under rotation, parity and translation
        d = pos[edges[0]] - pos[edges[1]]
        return ((d * d).sum(-1) ** 2).sum().reshape(1)

    def centroid(pos):
        return pos.mean(0, keep_dims=True)

    def radial(pos):
        return (pos * pos).sum(-1, keepdims=True)  # rotation invariant, not translation invariant

    set_random_seeds(4)
    pos = ms.Tensor(np.random.randn(5, 3))
    edges = ms.Tensor(np.array([[0, 1, 2, 3], [1, 2, 3, 4]]), ms.int32)
    errors = assert_equivariant(pair_energy, [pos, edges], irreps_in=["cartesian_points", None], irreps_out="0e")
    assert sorted(errors) == [(0, False), (0, True), (1, False), (1, True)]
    assert_equivariant(centroid, [pos], irreps_in="cartesian_points", irreps_out="cartesian_points")
    errors = equivariance_error(radial, [pos], irreps_in="cartesian_points", irreps_out="0e")
    assert errors[(0, False)].max() < 1e-12 and errors[(1, False)].max() < 1e-12
    assert errors[(0, True)].max() > 1e-2 and errors[(1, True)].max() > 1e-2
    errors = equivariance_error(radial, [pos], irreps_in="cartesian_points", irreps_out="0e", do_translation=False)
    assert sorted(errors) == [(0, False), (1, False)]
    # random 'cartesian_points' inputs are generated too
    assert_equivariant(centroid, irreps_in="cartesian_points", irreps_out="cartesian_points")


def test_irreps_in1_in2_attributes():
    class _Dot(nn.Cell):
        def __init__(self):
            super().__init__()
            self.irreps_in1 = o3.Irreps("3x1o")
            self.irreps_in2 = o3.Irreps("3x1o")
            self.irreps_out = o3.Irreps("3x0e")

        def construct(self, x, y):
            return (x * y).reshape(-1, 3, 3).sum(-1)

    set_random_seeds(5)
    assert_equivariant(_Dot())


def test_bad_input():
    def f(x):
        return x

    with pytest.raises(ValueError, match="Cannot infer irreps_in"):
        assert_equivariant(f)
    with pytest.raises(ValueError, match="Cannot infer irreps_out"):
        assert_equivariant(f, irreps_in="1o")
    with pytest.raises(ValueError, match=r"must have shape \(\.\.\., 3\), got \(2, 4\)"):
        assert_equivariant(f, [ms.Tensor(np.zeros((2, 4)))], irreps_in="1o", irreps_out="1o")
    with pytest.raises(ValueError, match="don't match in length"):
        assert_equivariant(f, [ms.Tensor(np.zeros((2, 3)))] * 2, irreps_in="1o", irreps_out="1o")
    with pytest.raises(ValueError, match="Random arguments cannot be generated"):
        assert_equivariant(f, irreps_in=[None], irreps_out=[None])
    with pytest.raises(ValueError, match="returned 1 outputs for 2 irreps_out"):
        assert_equivariant(f, irreps_in="1o", irreps_out=["1o", "1o"])

    def not_a_tensor(x):
        return 1.0

    with pytest.raises(TypeError, match="cannot handle output type"):
        assert_equivariant(not_a_tensor, irreps_in="1o", irreps_out="0e")


def test_random_irreps_and_format():
    random.seed(0)
    many = random_irreps(n=20, lmax=3, mul_max=2, len_max=3)
    assert len(many) == 20
    for irreps in many:
        irreps = o3.Irreps(irreps)  # strings, lists and Irreps all parse
        assert all(ir.l <= 3 and mul <= 2 for mul, ir in irreps)
    for irreps in random_irreps(n=20, clean=True, allow_empty=False):
        assert isinstance(irreps, o3.Irreps) and irreps.dim > 0
    with pytest.raises(ValueError, match="mul_min"):
        random_irreps(mul_min=3, mul_max=1)
    text = format_equivariance_error({(1, True): np.array([0.5, 2.0, 1.0])})
    assert text == "(parity_k=1, did_translate=True) -> max error=2.000e+00 in argument 1"
