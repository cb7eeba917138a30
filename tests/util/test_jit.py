"""util.jit (e3nn's names, compiling = mindspore.jit on construct) and the optimisation switches."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import nn

import mindchemistry_e3
from mindchemistry_e3 import o3
from mindchemistry_e3.util import jit


@jit.compile_mode("script")
class Scaled(nn.Cell):
    def __init__(self):
        super().__init__()
        self.irreps_in = o3.Irreps("2x0e")
        self.irreps_out = o3.Irreps("2x0e")
        self.w = ms.Parameter(ms.Tensor(np.array([2.0, 3.0]), ms.float64), name="w")

    def construct(self, x):
        return x * self.w


@jit.compile_mode("trace")
class Traced(Scaled):
    pass


@jit.compile_mode("unsupported")
class Unsupported(nn.Cell):
    def construct(self, x):
        return x


class Holder(nn.Cell):
    def __init__(self):
        super().__init__()
        self.inner = Scaled()
        self.other = nn.Dense(2, 2)

    def construct(self, x):
        return self.inner(x)


def _x():
    return ms.Tensor(np.array([[1.0, 1.0], [0.5, -1.0]]), ms.float64)


def test_compile_mode_marks():
    assert jit.get_compile_mode(Scaled()) == "script"
    assert jit.get_compile_mode(Traced()) == "trace"
    assert jit.get_compile_mode(nn.Dense(2, 2)) is None
    with pytest.raises(ValueError):
        jit.compile_mode("fast")
    with pytest.raises(TypeError):
        jit.compile_mode("script")(object)


def test_compile_jits_construct(mode):
    net = Scaled()
    out = jit.compile(net)
    assert out is net and "construct" in net.__dict__  # the instance's construct is the compiled one
    np.testing.assert_allclose(net(_x()).asnumpy(), _x().asnumpy() * [2.0, 3.0])
    grad = ms.grad(net, None, net.trainable_params())(_x())[0]
    np.testing.assert_allclose(grad.asnumpy(), [1.5, 0.0])


def test_compile_not_in_place_and_recurse():
    holder = Holder()
    copy = jit.compile(holder, in_place=False)
    assert copy is not holder
    assert "construct" in copy.inner.__dict__ and "construct" not in holder.inner.__dict__
    assert "construct" not in copy.other.__dict__  # unmarked children are left alone
    np.testing.assert_allclose(copy(_x()).asnumpy(), holder(_x()).asnumpy())
    with pytest.raises(NotImplementedError):
        jit.compile(Unsupported())
    with pytest.raises(ValueError):
        jit.compile(Scaled(), n_trace_checks=0)


def test_trace_checks_against_op_by_op():
    net = jit.trace(Scaled(), (_x(),), check_inputs=[(_x() * 2,)])
    np.testing.assert_allclose(net(_x()).asnumpy(), _x().asnumpy() * [2.0, 3.0])
    traced = jit.compile(Traced(), n_trace_checks=2)  # tracing inputs from irreps_in
    assert "construct" in traced.__dict__
    with pytest.raises(ValueError, match="irreps_in"):
        jit.trace(nn.Dense(2, 2))  # nothing to trace with

    class Lying(Scaled):
        """Compiled and op-by-op runs differ: the graph folds the attribute read at compile time."""

        def construct(self, x):
            return x * self.w + ms.Tensor(np.array([self.bump]), ms.float64)

    lying = Lying()
    lying.bump = 0.0
    jit.script(lying)(_x())  # compiled with bump = 0
    lying.bump = 1.0
    with pytest.raises(RuntimeError, match="differs"):
        jit.trace(lying, (_x(),))


def test_script_restores_marks():
    net = Scaled()
    jit.script(net)
    assert jit.get_compile_mode(net) == "script"
    assert "__e3nn_compile_mode__" not in net.__dict__
    with pytest.warns(UserWarning):
        jit.trace(Traced().__class__.__bases__[0]())  # a 'script' Cell traced: warned, as in e3nn


def test_get_tracing_inputs():
    inputs = jit.get_tracing_inputs(Scaled(), n=3)
    assert len(inputs) == 3 and all(d["forward"][0].shape[-1] == 2 for d in inputs)
    assert inputs[0]["forward"][0].dtype == ms.float64  # guessed from the parameters
    assert jit.get_tracing_inputs(Scaled(), dtype=ms.float32)[0]["forward"][0].dtype == ms.float32

    class Maker(Scaled):
        def _make_tracing_inputs(self, n):
            return [{"forward": (ms.Tensor(np.ones((1, 2)), ms.float64),)} for _ in range(n)]

    assert jit.get_tracing_inputs(Maker(), 2)[1]["forward"][0].shape == (1, 2)

    class Bad(Scaled):
        def _make_tracing_inputs(self, n):
            return [(1,)]

    with pytest.raises(ValueError, match="list of dict"):
        jit.get_tracing_inputs(Bad())


def test_optimization_defaults():
    before = mindchemistry_e3.get_optimization_defaults()
    assert set(before) == {"specialized_code", "optimize_einsums", "jit_script_fx", "jit_mode"}
    try:
        mindchemistry_e3.set_optimization_defaults(jit_mode="script")
        assert jit.get_optimization_defaults()["jit_mode"] == "script"
        mindchemistry_e3.set_optimization_defaults(jit_script_fx=False)  # e3nn's legacy mapping
        assert mindchemistry_e3.get_optimization_defaults()["jit_mode"] == "eager"
        with jit.disable_e3nn_codegen():
            assert mindchemistry_e3.get_optimization_defaults()["jit_script_fx"] is False
        with pytest.raises(ValueError, match="Unknown"):
            mindchemistry_e3.set_optimization_defaults(fast=True)
        with pytest.raises(ValueError, match="jit_mode"):
            mindchemistry_e3.set_optimization_defaults(jit_mode="tracing")
    finally:
        mindchemistry_e3.set_optimization_defaults(**before)
    assert mindchemistry_e3.get_optimization_defaults() == before
