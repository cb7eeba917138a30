"""Neighbour lists for every frame of a dataset (``mindchemistry_e3.util.radius_graph`` per frame)."""
import warnings

import numpy as np

from mindchemistry_e3.util.graph import radius_graph

from .atomic_data import symbol


class IsolatedAtomWarning(UserWarning):
    """An atom has no neighbour within the cutoff: the model will see only its species."""


def build_neighbors(frames, r_max, on_isolated="warn"):
    """Build the neighbour list of every frame in place (periodic frames use their cell and pbc).

    Args:
        frames (list[AtomicData]): the structures.
        r_max (float): cutoff radius in Å (> 0).
        on_isolated (str): what to do when an atom has no neighbour within ``r_max``: ``'warn'`` (one
            ``IsolatedAtomWarning`` per call, naming the first frames and atoms), ``'raise'`` (ValueError) or
            ``'ignore'``. A dataset with no edge at all always raises.

    Returns:
        the same list, for chaining.

    Examples:
        >>> import numpy as np
        >>> from applications.nequip.data import AtomicData
        >>> fr = build_neighbors([AtomicData(pos=[[0, 0, 0], [0, 0, 1.0]], atomic_numbers=[1, 1])], 1.5)
        >>> fr[0].num_edges
        2
    """
    if on_isolated not in ("warn", "raise", "ignore"):
        raise ValueError(f"build_neighbors: on_isolated must be 'warn', 'raise' or 'ignore', got {on_isolated!r}")
    isolated = []
    total_edges = 0
    for i, f in enumerate(frames):
        src, dst, shift = radius_graph(f.pos, r_max, cell=f.cell, pbc=f.pbc)
        f.edge_src, f.edge_dst, f.edge_shift, f.r_max = src, dst, shift, float(r_max)
        total_edges += len(src)
        lonely = np.flatnonzero(np.bincount(src, minlength=f.num_atoms) == 0)
        if len(lonely):
            isolated.append((i, lonely))
    if frames and total_edges == 0:
        raise ValueError(f"build_neighbors: r_max={r_max} Å gives no edge in any of the {len(frames)} frames; "
                         "the cutoff is too small for this dataset")
    if isolated and on_isolated != "ignore":
        first = "; ".join(f"frame {i}: atoms {a[:5].tolist()} "
                          f"({', '.join(symbol(z) for z in frames[i].atomic_numbers[a[:5]])})"
                          for i, a in isolated[:3])
        msg = (f"r_max={r_max} Å leaves atoms without neighbours in {len(isolated)} of {len(frames)} frames "
               f"(e.g. {first})")
        if on_isolated == "raise":
            raise ValueError(msg)
        warnings.warn(msg, IsolatedAtomWarning, stacklevel=2)
    return frames
