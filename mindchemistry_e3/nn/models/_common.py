r"""Pieces shared by the e3nn example networks of :mod:`mindchemistry_e3.nn.models`.

* :func:`conv_tensor_product` -- the message-passing core of every point convolution:
  the source-node features on the edges, tensor product with the edge attributes and per-edge weights, sum at
  the destination, fused in one :class:`~mindchemistry_e3.o3.TensorProductConv`.
* :func:`scatter`, :func:`radius_graph`, :func:`smooth_cutoff`, :func:`tp_path_exists`, :class:`Compose` -- the
  helpers e3nn's model files define, with e3nn's signatures (graph-mode clean, except the host-side
  :func:`radius_graph`).
* :func:`gate_for` -- the gated nonlinearity the networks put after each convolution.
* :class:`GraphInputCell` -- lets a network be called with e3nn's ``data`` dict: the graph (a data-dependent
  neighbour list) is built on the host, then ``construct`` -- the static-shaped message-passing core, compiled in
  GRAPH_MODE -- runs on Tensors.

>>> tp_path_exists("0e + 1o", "1o", "2e")
True
"""
import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ...o3 import Irrep, Irreps, TensorProductConv, uvu_instructions
from ...util.dtype import check_float_dtype
from ...util.graph import radius_graph as _radius_graph, scatter  # scatter: torch_scatter's, as e3nn's files use it
from ...util.second_order import SecondOrderGuard
from .._fc import FullyConnectedNet
from .._gate import Gate

__all__ = ["conv_tensor_product", "uvu_instructions", "radial_network", "is_even_scalar", "scatter", "radius_graph",
           "smooth_cutoff", "tp_path_exists", "Compose", "gate_for", "GraphInputCell", "ACTS", "ACTS_GATES"]

#: e3nn's activations by parity of the scalar: silu / tanh for scalars, sigmoid / tanh for gates.
ACTS = {1: ops.silu, -1: ops.tanh}
ACTS_GATES = {1: ops.sigmoid, -1: ops.tanh}


def conv_tensor_product(irreps_in, irreps_edge_attr, irreps_mid, instructions, num_neighbors, dtype):
    """e3nn's edge product ``TensorProduct(irreps_in, irreps_edge_attr, irreps_mid, instructions,
    shared_weights=False)`` summed at the destinations and divided by ``sqrt(num_neighbors)``, as one fused
    :class:`~mindchemistry_e3.o3.TensorProductConv` (same weight layout; no parameters, like e3nn's ``tp``)."""
    return TensorProductConv(irreps_in, irreps_edge_attr, irreps_mid, instructions, scale=num_neighbors ** -0.5,
                             dtype=dtype)


def radial_network(hs, dtype=None):
    r"""e3nn's radial network ``FullyConnectedNet(hs, silu)`` (``hs[-1] == 0`` when the tensor product has no
    weights: then its output is empty, its parameters still e3nn's).

    >>> radial_network([2, 8, 0]).hs, [p.shape for p in radial_network([2, 8, 0]).get_parameters()]
    ([2, 8, 0], [(2, 8), (8, 0)])
    """
    return FullyConnectedNet(hs, ops.silu, dtype=check_float_dtype(dtype))


def is_even_scalar(ir):
    """Whether ``ir`` is ``0e`` (the v2103 / v2106 convolutions always keep their ``0e`` paths)."""
    return ir == Irrep(0, 1)


def radius_graph(pos, r_max, batch=None):
    r"""e3nn's naive radius graph: the pairs ``(i, j)`` with ``0 < |pos_i - pos_j| < r_max`` in the same graph of
    ``batch``, as an int64 Tensor ``[2, num_edges]`` sorted by ``(i, j)`` (row 0: ``i``, used as the edge source).

    Computed on the host (numpy float64): call it outside compiled graphs.

    >>> radius_graph(ms.Tensor([[0., 0., 0.], [1., 0., 0.], [3., 0., 0.]]), 1.5).asnumpy().tolist()
    [[0, 1], [1, 0]]
    """
    pos = pos.asnumpy().astype(np.float64)
    if batch is not None:
        batch = batch.asnumpy() if isinstance(batch, ms.Tensor) else np.asarray(batch)
    src, dst, _ = _radius_graph(pos, r_max, batch=batch)
    keep = np.linalg.norm(pos[src] - pos[dst], axis=1) > 0  # e3nn also drops distinct atoms at distance 0
    return ms.Tensor(np.stack([src[keep], dst[keep]]).astype(np.int64).reshape(2, -1), ms.int64)


def smooth_cutoff(x):
    r"""e3nn's smooth cutoff of ``x = r / r_max``: 1 below 0.5, :math:`(1 - \cos(2\pi (x - 1))) / 2` on
    ``[0.5, 1]``, 0 above 1.

    >>> smooth_cutoff(ms.Tensor([0.25, 0.75, 1.5], ms.float64)).asnumpy().round(12).tolist()
    [1.0, 0.5, 0.0]
    """
    u = 2 * (x - 1)
    pi = ms.Tensor(np.array([np.pi])).astype(x.dtype)  # a Tensor: a Python float would round float64 input
    y = (1 - ops.cos(pi * u)) / 2
    y = ops.where(u > 0, ops.zeros_like(y), y)
    return ops.where(u < -1, ops.ones_like(y), y)


def tp_path_exists(irreps_in1, irreps_in2, ir_out):
    """Whether some irrep of ``irreps_in1`` times some irrep of ``irreps_in2`` contains ``ir_out``.

    >>> tp_path_exists("4x0e", "0e + 1o", "1o"), tp_path_exists("4x0e", "0e + 1o", "0o")
    (True, False)
    """
    irreps_in1 = Irreps(irreps_in1).simplify()
    irreps_in2 = Irreps(irreps_in2).simplify()
    ir_out = Irrep(ir_out)
    for _, ir1 in irreps_in1:
        for _, ir2 in irreps_in2:
            if ir_out in ir1 * ir2:
                return True
    return False


class Compose(SecondOrderGuard, nn.Cell):
    r"""``second(first(*inputs))`` (e3nn's ``Compose``); ``irreps_in`` / ``irreps_out`` are taken from the two
    Cells when they have them.

    Args:
        first (nn.Cell): takes the inputs.
        second (nn.Cell): takes ``first``'s output.

    Inputs:
        - **inputs** - the inputs of ``first``.

    Outputs:
        The output of ``second``.

    Supported Platforms:
        ``CPU``

    Examples:
        >>> from mindchemistry_e3.nn import Identity
        >>> Compose(Identity("1o", "1o"), Identity("1o", "1o")).irreps_out
        1x1o
    """

    def __init__(self, first, second):
        super().__init__()
        self.first = first
        self.second = second
        if hasattr(first, "irreps_in"):
            self.irreps_in = first.irreps_in
        if hasattr(second, "irreps_out"):
            self.irreps_out = second.irreps_out

    def construct(self, *inputs):
        return self.second(self.first(*inputs))


def gate_for(irreps_node, irreps_hidden, irreps_edge_attr, simplify=False, strict=False, dtype=None):
    r"""e3nn's gate after a convolution from ``irreps_node`` with edge attributes ``irreps_edge_attr``: the
    scalars of ``irreps_hidden`` (silu / tanh) and its ``l > 0`` irreps gated by sigmoid / tanh scalars, keeping
    only irreps a tensor product path can reach.

    Args:
        irreps_node, irreps_hidden, irreps_edge_attr (Irreps): input, target and edge irreps.
        simplify (bool): simplify the scalar and gate irreps (v2103 / v2106 do).
        strict (bool): v2106's rule: gates are ``0e`` if reachable, else ``0o`` if reachable, else a ValueError;
            no gates without gated irreps. Otherwise (2101 / 2102 / v2103) ``0e`` if reachable, else ``0o``.
        dtype (mindspore.dtype, optional): the Gate's dtype.

    Returns:
        nn.Gate
    """
    irreps_hidden = Irreps(irreps_hidden)
    irreps_scalars = Irreps([(mul, ir) for mul, ir in irreps_hidden
                             if ir.l == 0 and tp_path_exists(irreps_node, irreps_edge_attr, ir)])
    irreps_gated = Irreps([(mul, ir) for mul, ir in irreps_hidden
                           if ir.l > 0 and tp_path_exists(irreps_node, irreps_edge_attr, ir)])
    if not strict:
        ir = "0e" if tp_path_exists(irreps_node, irreps_edge_attr, "0e") else "0o"
    elif irreps_gated.dim == 0:
        ir = None
    elif tp_path_exists(irreps_node, irreps_edge_attr, "0e"):
        ir = "0e"
    elif tp_path_exists(irreps_node, irreps_edge_attr, "0o"):
        ir = "0o"
    else:
        raise ValueError(f"irreps_node={irreps_node} times irreps_edge_attr={irreps_edge_attr} is unable to "
                         f"produce gates needed for irreps_gated={irreps_gated}")
    irreps_gates = Irreps([(mul, ir) for mul, _ in irreps_gated])
    if simplify:
        irreps_scalars = irreps_scalars.simplify()
        irreps_gates = irreps_gates.simplify()
    return Gate(irreps_scalars, [ACTS[ir.p] for _, ir in irreps_scalars], irreps_gates,
                [ACTS_GATES[ir.p] for _, ir in irreps_gates], irreps_gated, dtype=dtype)


def batch_and_count(data, pos):
    """``data["batch"]`` (int Tensor, zeros if absent) and the number of graphs (a Python int)."""
    if "batch" in data:
        batch = data["batch"]
        count = int(batch.max().asnumpy()) + 1 if batch.shape[0] > 0 else 0
        return batch, count
    return ops.zeros((pos.shape[0],), ms.int64), 1


class GraphInputCell(SecondOrderGuard, nn.Cell):
    """Base of the networks: ``net(data)`` with e3nn's ``data`` dict calls ``construct(*net.graph_inputs(data))``.

    ``graph_inputs`` builds the graph on the host; ``construct`` (the message-passing core) takes only Tensors
    and Python ints, so it compiles in GRAPH_MODE and can be differentiated there (e.g. with respect to the
    positions). Calling the network with those Tensors directly works too.
    """

    def graph_inputs(self, data):
        """The arguments of ``construct`` for e3nn's ``data`` dict (implemented by each network)."""
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and isinstance(args[0], dict):
            args = self.graph_inputs(args[0])
        return super().__call__(*args, **kwargs)
