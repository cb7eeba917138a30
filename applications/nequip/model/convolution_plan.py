r"""The numpy plan of NequIP's convolution: a ``uvu`` tensor product with the edge harmonics, summed over edges.

Imports no MindSpore. The convolution of node features :math:`h` (every irrep with the same multiplicity
``mul``) with the edge harmonics :math:`Y` (every irrep once), per-edge weights :math:`w` and the CG blocks
:math:`C_q` of the paths :math:`q: (l_1, l_2) \to l_3`,

.. math::
    m_{i,\,q u k} = \sum_{e:\ \mathrm{dst}(e) = i} w_{e, q u} \sum_{a b} h_{\mathrm{src}(e),\, u a}\,
                    Y_{e b}\, C_{q,\,a b k},

is what ``o3.TensorProduct(..., "uvu", shared_weights=False)`` computes edge by edge, but laid out so that a
backend needs **one** batched matrix product for all paths and no transposes on edge-sized tensors:

- the node features enter *component-major*, ``[N, D1, mul]`` (``D1`` = the components of all input irreps), so
  the per-edge gather and the node-level layout change commute;
- one 2-D MatMul ``T = Y @ cg`` builds every edge's ``[K, D1]`` operator (all paths, CG and path weight
  folded in), and one BatchMatMul ``T[E, K, D1] @ h[src][E, D1, mul]`` gives every path's output rows
  ``[E, K, mul]``;
- the ``K`` rows are grouped in **blocks** of paths with the same output dimension ``d3``, ordered
  ``(k, q)`` inside a block, so that a block's weights multiply as ``[E, d3, P_b, mul] * [E, 1, P_b, mul]``;
- the weights arrive with their columns permuted (``weight_perm``, applied once to the radial MLP's last
  weight matrix, not per edge) into block order;
- after the sum over edges a block ``[N, d3, P_b, mul]`` transposed to ``[N, P_b, mul, d3]`` is exactly e3nn's
  layout of its paths' output irreps, which come out in ``irreps_out`` order (the paths are sorted by output).

:func:`build_convolution_plan` makes the plan, :func:`execute_convolution_plan` runs it in numpy (the MindSpore
Cell mirrors it step by step) and is tested against the per-path reference
:func:`mindchemistry_e3.o3._tensor_product._plan.naive_tensor_product`.

>>> plan = build_convolution_plan("4x0e + 4x1o", "0e + 1o", "4x0e + 4x0e + 4x1o + 4x1o + 4x1e",
...     [(0, 0, 0, "uvu", True), (1, 1, 1, "uvu", True), (0, 1, 2, "uvu", True), (1, 0, 3, "uvu", True),
...      (1, 1, 4, "uvu", True)])
>>> plan.mul, plan.d1, plan.k, [(b.d3, b.paths) for b in plan.blocks]
(4, 4, 11, [(1, (0, 1)), (3, (2, 3, 4))])
"""
from typing import NamedTuple

import numpy as np

from mindchemistry_e3.o3 import Irreps
from mindchemistry_e3.o3._so3_np import wigner_3j
from mindchemistry_e3.o3._tensor_product._plan import normalize_instructions

__all__ = ["ConvolutionBlock", "ConvolutionPlan", "convolution_plan_supported", "build_convolution_plan",
           "execute_convolution_plan"]


class ConvolutionBlock(NamedTuple):
    """Paths with the same output dimension, contiguous in the rows and in the (permuted) weights.

    Fields:
        d3 (int): output dimension ``2 l_3 + 1`` of every path of the block.
        paths (tuple[int]): instruction indices, in ``irreps_out`` order.
        row_offset (int): first row of the block in ``K``; its rows are ``(k, q)`` for ``k < d3``, ``q`` in paths.
    """

    d3: int
    paths: tuple
    row_offset: int


class ConvolutionPlan(NamedTuple):
    """Everything the convolution Cell needs, computed once from the irreps and the instructions.

    Fields:
        irreps_in, irreps_sh, irreps_out (Irreps): node features, edge harmonics, one output irrep per path.
        instructions (list[Instruction]): normalised ``uvu`` paths (``path_weight`` folded into ``cg``).
        mul (int): the multiplicity of every input and output irrep.
        in_dims (tuple[int]): component count of each irrep of ``irreps_in`` (component-major layout order).
        d1 (int): ``sum(in_dims)``; d2 (int): ``irreps_sh.dim``; k (int): output rows of all paths.
        cg (ndarray): ``[d2, k * d1]``, so that ``(Y @ cg).reshape(E, k, d1)`` is every edge's operator.
        blocks (tuple[ConvolutionBlock]): the output rows, by ``d3``.
        weight_numel (int): per-edge weights, e3nn layout (``mul`` per instruction, in instruction order).
        weight_perm (ndarray): int64 ``[weight_numel]``: column ``j`` of the block-ordered weights is column
            ``weight_perm[j]`` of e3nn's.
    """

    irreps_in: Irreps
    irreps_sh: Irreps
    irreps_out: Irreps
    instructions: list
    mul: int
    in_dims: tuple
    d1: int
    d2: int
    k: int
    cg: np.ndarray
    blocks: tuple
    weight_numel: int
    weight_perm: np.ndarray


def convolution_plan_supported(irreps_in, irreps_sh, irreps_out, instructions):
    """Whether the component-major plan applies: one multiplicity everywhere on input 1 and the outputs,
    multiplicity-1 harmonics, weighted ``uvu`` paths only, one path per output irrep.

    >>> convolution_plan_supported("4x0e + 4x1o", "0e + 1o", "4x1o", [(0, 1, 0, "uvu", True)])
    True
    >>> convolution_plan_supported("4x0e + 2x1o", "0e + 1o", "2x1o", [(1, 0, 0, "uvu", True)])
    False
    """
    irreps_in, irreps_sh, irreps_out = Irreps(irreps_in), Irreps(irreps_sh), Irreps(irreps_out)
    muls = {mul for mul, _ in irreps_in} | {mul for mul, _ in irreps_out}
    if len(muls) != 1 or 0 in muls or any(mul != 1 for mul, _ in irreps_sh):
        return False
    outs = [ins[2] for ins in instructions]
    if sorted(outs) != list(range(len(irreps_out))):
        return False
    return all(ins[3] == "uvu" and (len(ins) < 5 or ins[4]) for ins in instructions)


def build_convolution_plan(irreps_in, irreps_sh, irreps_out, instructions, irrep_normalization="component",
                           path_normalization="element"):
    """Plan the convolution of ``irreps_in x irreps_sh -> irreps_out`` with e3nn-style ``instructions``.

    The normalisation is e3nn's (:func:`~mindchemistry_e3.o3._tensor_product._plan.normalize_instructions`),
    so the result equals ``o3.TensorProduct(irreps_in, irreps_sh, irreps_out, instructions,
    shared_weights=False)`` summed over edges.

    Raises:
        ValueError: if :func:`convolution_plan_supported` is False, or the instructions are invalid.
    """
    irreps_in, irreps_sh, irreps_out = Irreps(irreps_in), Irreps(irreps_sh), Irreps(irreps_out)
    if not convolution_plan_supported(irreps_in, irreps_sh, irreps_out, instructions):
        raise ValueError(f"convolution plan: needs one multiplicity on {irreps_in} and {irreps_out}, "
                         f"multiplicity-1 harmonics ({irreps_sh}) and one weighted 'uvu' path per output irrep")
    ins_list = normalize_instructions(irreps_in, irreps_sh, irreps_out, instructions,
                                      irrep_normalization=irrep_normalization,
                                      path_normalization=path_normalization)
    mul = irreps_in[0].mul
    in_dims = tuple(ir.dim for _, ir in irreps_in)
    in_off = np.concatenate([[0], np.cumsum(in_dims)]).astype(int)
    sh_off = np.concatenate([[0], np.cumsum([ir.dim for _, ir in irreps_sh])]).astype(int)
    d1, d2 = int(in_off[-1]), int(sh_off[-1])
    w_off = np.concatenate([[0], np.cumsum([mul for _ in ins_list])]).astype(int)

    order = sorted(range(len(ins_list)), key=lambda q: ins_list[q].i_out)
    blocks, row = [], 0
    for q in order:
        d3 = irreps_out[ins_list[q].i_out].ir.dim
        if blocks and blocks[-1][0] == d3:
            blocks[-1][1].append(q)
        else:
            blocks.append((d3, [q]))
    plan_blocks = []
    for d3, paths in blocks:
        plan_blocks.append(ConvolutionBlock(d3, tuple(paths), row))
        row += d3 * len(paths)
    k = row

    cg = np.zeros((d2, k, d1))
    for blk in plan_blocks:
        n = len(blk.paths)
        for pos, q in enumerate(blk.paths):
            ins = ins_list[q]
            l1, l2 = irreps_in[ins.i_in1].ir.l, irreps_sh[ins.i_in2].ir.l
            c = wigner_3j(l1, l2, irreps_out[ins.i_out].ir.l) * ins.path_weight  # [a, b, k]
            rows = blk.row_offset + np.arange(blk.d3) * n + pos
            a0, b0 = in_off[ins.i_in1], sh_off[ins.i_in2]
            cg[b0:b0 + c.shape[1], rows, a0:a0 + c.shape[0]] = np.transpose(c, (1, 2, 0))
    perm = np.concatenate([w_off[q] + np.arange(mul) for blk in plan_blocks for q in blk.paths]).astype(np.int64)
    return ConvolutionPlan(irreps_in, irreps_sh, irreps_out, ins_list, mul, in_dims, d1, d2, k,
                           cg.reshape(d2, k * d1), tuple(plan_blocks), int(w_off[-1]), perm)


def to_component_major(plan, x):
    """Node features ``[N, irreps_in.dim]`` (e3nn layout) -> ``[N, d1, mul]``."""
    n, pieces, off = x.shape[0], [], 0
    for d in plan.in_dims:
        pieces.append(np.transpose(x[:, off:off + plan.mul * d].reshape(n, plan.mul, d), (0, 2, 1)))
        off += plan.mul * d
    return np.concatenate(pieces, axis=1)


def execute_convolution_plan(plan, x, sh, weight, edge_src, edge_dst, num_nodes):
    """numpy run of the plan: ``x [N, irreps_in.dim]``, ``sh [E, d2]``, ``weight [E, weight_numel]`` (e3nn
    layout) -> ``[num_nodes, irreps_out.dim]``, the messages ``src -> dst`` summed at ``dst``.
    """
    e, mul = sh.shape[0], plan.mul
    xs = to_component_major(plan, x)[edge_src]  # [E, d1, mul]
    t = (sh @ plan.cg).reshape(e, plan.k, plan.d1)
    a = t @ xs  # [E, K, mul]
    w = weight[:, plan.weight_perm]
    out, w_col = [], 0
    for blk in plan.blocks:
        n = len(blk.paths)
        rows = a[:, blk.row_offset:blk.row_offset + blk.d3 * n].reshape(e, blk.d3, n, mul)
        m = rows * w[:, w_col:w_col + n * mul].reshape(e, 1, n, mul)
        w_col += n * mul
        s = np.zeros((num_nodes, blk.d3, n, mul))
        np.add.at(s, edge_dst, m)
        out.append(np.transpose(s, (0, 2, 3, 1)).reshape(num_nodes, -1))
    return np.concatenate(out, axis=1)
