r"""What of a NequIP layer reaches the irreps its consumer reads (numpy plan, imports no MindSpore).

The readout after NequIP's last layer reads only its ``0e`` outputs: the gated ``l > 0`` features, the odd scalars,
the product paths into them, the gates and their radial weights do not change the energy (their weights get zero
gradients); a layer before reads only some irreps of the one it follows. These functions list the part that does
-- the product paths into the read irreps, the input irreps those paths read, the radial-network columns they take,
the gate-input columns of the read segments -- and where its columns sit in the full layer's layouts, so that
:class:`~applications.nequip.model.interaction.ConvLayer` computes the read outputs alone from the full layer's
Parameters (NequIP 0.19's scalar-only last layer, with the weights and numbers of the full one).

>>> from mindchemistry_e3.o3 import Irreps, uvu_instructions
>>> mid, ins = uvu_instructions("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o")
>>> part = product_part("2x0e + 2x1o", "0e + 1o", mid, ins, {Irreps("0e")[0].ir})
>>> str(part.irreps_in), str(part.irreps_mid), part.instructions, part.weight_columns.tolist()
('2x0e+2x1o', '2x0e+2x0e', [(0, 0, 0, 'uvu', True), (1, 1, 1, 'uvu', True)], [0, 1, 6, 7])
"""
from typing import NamedTuple

import numpy as np

from mindchemistry_e3.o3._irreps import Irreps
from mindchemistry_e3.util._column_map_np import column_map

__all__ = ["ProductPart", "product_part", "segment_columns_in"]


class ProductPart(NamedTuple):
    """The paths of a ``uvu`` convolution into some output irreps.

    Fields:
        irreps_in (Irreps): the input segments the kept paths read.
        in_map (ColumnMap): the full input's columns -> ``irreps_in``.
        irreps_mid (Irreps): the kept paths' outputs (one segment each, in the full output's order).
        instructions (list[tuple]): the kept ``uvu`` paths, ``irreps_in`` x edge irreps -> ``irreps_mid``.
        weight_columns (ndarray): int, the full product's e3nn weight column of each kept weight column.
        mid_map (ColumnMap): ``irreps_mid`` -> the full product's output layout (None where not kept).
    """

    irreps_in: Irreps
    in_map: object
    irreps_mid: Irreps
    instructions: list
    weight_columns: np.ndarray
    mid_map: object


def product_part(irreps_in, irreps_edge_attr, irreps_mid, instructions, irs):
    """The paths of the convolution ``instructions`` (``(i_in, i_edge, i_out, 'uvu', weighted)`` on ``irreps_in``
    x ``irreps_edge_attr`` -> ``irreps_mid``) whose output irrep is in ``irs``, as a :class:`ProductPart`.

    Raises:
        ValueError: when no path reaches ``irs``.
    """
    irreps_in, irreps_edge_attr, irreps_mid = Irreps(irreps_in), Irreps(irreps_edge_attr), Irreps(irreps_mid)
    kept = [k for k, ins in enumerate(instructions) if irreps_mid[ins[2]].ir in irs]
    if not kept:
        raise ValueError(f"product_part: no path of {irreps_in} x {irreps_edge_attr} reaches "
                         f"{sorted(str(ir) for ir in irs)}")
    in_segments = sorted({instructions[k][0] for k in kept})
    mid_segments = sorted({instructions[k][2] for k in kept})
    in_pos = {s: i for i, s in enumerate(in_segments)}
    mid_pos = {s: i for i, s in enumerate(mid_segments)}
    # the full product's e3nn weight layout: a block of mul_in * mul_edge per weighted path, in instruction order
    sizes = [irreps_in[i_1].mul * irreps_edge_attr[i_2].mul if weighted else 0
             for i_1, i_2, _, _, weighted in instructions]
    starts = np.cumsum([0] + sizes)
    weight_columns = np.concatenate([np.arange(starts[k], starts[k] + sizes[k]) for k in kept] + [np.zeros(0)])
    in_cols, mid_cols = irreps_in.slices(), irreps_mid.slices()
    kept_mid = [c for s in mid_segments for c in range(irreps_mid.dim)[mid_cols[s]]]
    sources = [None] * irreps_mid.dim
    for j, c in enumerate(kept_mid):
        sources[c] = [j]
    return ProductPart(
        irreps_in=Irreps([irreps_in[s] for s in in_segments]),
        in_map=column_map([[c] for s in in_segments for c in range(irreps_in.dim)[in_cols[s]]], irreps_in.dim),
        irreps_mid=Irreps([irreps_mid[s] for s in mid_segments]),
        instructions=[(in_pos[instructions[k][0]], instructions[k][1], mid_pos[instructions[k][2]]) +
                      tuple(instructions[k][3:]) for k in kept],
        weight_columns=weight_columns.astype(np.int64),
        mid_map=column_map(sources, len(kept_mid)),
    )


def segment_columns_in(irreps, ranges):
    """The columns of every segment of ``irreps`` (as given to a Gate: its scalars, gates or gated irreps) in the
    Gate's input layout, from the column ``ranges`` of their simplified segments there
    (:func:`~mindchemistry_e3.nn._gate.gate_layout`): consecutive segments of one irrep share a simplified segment,
    in order.

    >>> segment_columns_in("2x0e + 1x0e + 3x0o", ((4, 7), (0, 3)))
    [[4, 5], [6], [0, 1, 2]]
    """
    segments = list(Irreps(irreps))
    out, k = [], 0
    for start, stop in ranges:
        column = start
        while column < stop and k < len(segments):
            mul, ir = segments[k]
            out.append(list(range(column, column + mul * ir.dim)))
            column += mul * ir.dim
            k += 1
        if column != stop:
            raise ValueError(f"segment_columns_in: segments of {irreps} do not fill the ranges {ranges}")
    if k != len(segments):
        raise ValueError(f"segment_columns_in: {len(ranges)} ranges for the segments of {irreps}")
    return out
