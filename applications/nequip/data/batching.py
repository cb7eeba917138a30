"""Batches of several structures padded to a few fixed bucket sizes (static shapes for the compiled step).

MindSpore compiles one graph per input shape, and second-order gradients (forces in the loss) do not work
with dynamic shapes, so every batch is padded to one of a few sizes (``/work/shared/MINDSPORE_NOTES.md`` §4):

* atoms ``N_pad`` and edges ``E_pad`` are rounded up to a bucket: ``32 * 2**k`` by default, or a list you
  give, or one fixed worst-case size for the whole dataset (``'max'``: a single compile);
* ``N_pad >= N_real + 1``: the last atom ``N_pad - 1`` is a *dummy atom*; padded atoms have ``atom_mask = 0``,
  zero position, type 0 and belong to the *dummy graph* ``G_pad - 1``;
* padded edges are self-loops on the dummy atom (``src = dst = N_pad - 1``, zero shift, ``edge_mask = 0``);
  their length is 0, so the model must use a NaN-free norm and multiply edge terms by ``edge_mask``;
* graphs: ``G_pad = num_graphs + 1`` (a fixed batch size plus the dummy graph); a last, short batch pads
  graphs with ``graph_mask = 0``.

Per-structure quantities of a padded batch equal the unpadded ones exactly (tested).
"""
from dataclasses import dataclass, fields
from typing import Optional

import numpy as np


def round_up(n, buckets=None, what="size"):
    """The smallest bucket >= ``n``: ``32 * 2**k`` when ``buckets`` is None, else from the sorted list.

    Examples:
        >>> round_up(33), round_up(32), round_up(100, [64, 96, 128])
        (64, 32, 128)
    """
    n = int(n)
    if buckets is None:
        size = 32
        while size < n:
            size *= 2
        return size
    for b in sorted(int(x) for x in buckets):
        if b >= n:
            return b
    raise ValueError(f"a batch needs {what} {n}, more than the largest bucket {max(buckets)} of {list(buckets)}")


@dataclass
class Batch:
    """A padded batch (numpy; ``to_tensors`` makes MindSpore Tensors).

    Shapes: ``N = n_pad`` atoms, ``E = e_pad`` edges, ``G = g_pad`` graphs (the last one is the dummy graph).

    Attributes:
        pos (float [N, 3]): positions, Å; padded atoms at the origin.
        atom_types (int32 [N]): species index (``TypeMapper``); 0 for padded atoms.
        batch (int32 [N]): graph of every atom; padded atoms -> ``G - 1``.
        atom_mask (float [N, 1]): 1 for real atoms.
        edge_src, edge_dst (int32 [E]): padded edges -> ``N - 1`` (self-loops on the dummy atom).
        edge_shift (float [E, 3]): integer cell shifts (as floats); 0 for padded edges.
        edge_shift_vec (float [E, 3]): ``edge_shift @ cell`` of the edge's graph, Å, so that the edge vector is
            ``pos[edge_dst] - pos[edge_src] + edge_shift_vec``.
        edge_mask (float [E, 1]): 1 for real edges.
        cell (float [G, 3, 3]): lattice vectors (rows); zeros for molecules and padded graphs.
        volume (float [G]): ``|det(cell)|`` in Å^3 for periodic graphs, 1 for molecules and padded graphs
            (divide the strain derivative by it to get the stress).
        graph_mask (float [G]): 1 for real graphs.
        n_atoms (float [G]): real atoms per graph (0 for padded graphs; divide by ``max(n_atoms, 1)``).
        energy (float [G]), forces (float [N, 3]), stress (float [G, 3, 3]): labels in eV, eV/Å, eV/Å^3
            (0 where missing).
        energy_mask (float [G]), forces_mask (float [N, 1]), stress_mask (float [G]): 1 where the label
            exists (per graph; ``forces_mask`` is per atom).
        num_graphs (int): real graphs in the batch.
    """

    pos: np.ndarray
    atom_types: np.ndarray
    batch: np.ndarray
    atom_mask: np.ndarray
    edge_src: np.ndarray
    edge_dst: np.ndarray
    edge_shift: np.ndarray
    edge_shift_vec: np.ndarray
    edge_mask: np.ndarray
    cell: np.ndarray
    volume: np.ndarray
    graph_mask: np.ndarray
    n_atoms: np.ndarray
    energy: np.ndarray
    forces: np.ndarray
    stress: np.ndarray
    energy_mask: np.ndarray
    forces_mask: np.ndarray
    stress_mask: np.ndarray
    num_graphs: int
    frame_ids: Optional[np.ndarray] = None

    @property
    def n_pad(self):
        """Padded number of atoms."""
        return self.pos.shape[0]

    @property
    def e_pad(self):
        """Padded number of edges."""
        return self.edge_src.shape[0]

    @property
    def g_pad(self):
        """Padded number of graphs (the last one is the dummy graph)."""
        return self.cell.shape[0]

    @property
    def bucket(self):
        """``(n_pad, e_pad, g_pad)``: batches with the same bucket share one compiled graph."""
        return (self.n_pad, self.e_pad, self.g_pad)

    def arrays(self):
        """The array fields, name -> numpy array (``num_graphs`` and ``frame_ids`` left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("num_graphs", "frame_ids")}

    def to_tensors(self, dtype=None):
        """name -> ``mindspore.Tensor`` (floats in ``dtype``, default float32; indices int32)."""
        import mindspore as ms

        dtype = ms.float32 if dtype is None else dtype
        out = {}
        for name, arr in self.arrays().items():
            out[name] = ms.Tensor(arr, ms.int32) if arr.dtype.kind in "iu" else ms.Tensor(arr, dtype)
        return out

    def unpad(self):
        """Per real graph: dict of ``pos, atom_types, forces, energy, stress, cell, edge_src, edge_dst``
        (local atom indices), ``edge_shift`` (int64), in the order the graphs were batched."""
        out = []
        real_atoms = self.atom_mask[:, 0] > 0
        real_edges = self.edge_mask[:, 0] > 0
        for g in range(self.num_graphs):
            atoms = np.flatnonzero(real_atoms & (self.batch == g))
            first = atoms[0] if len(atoms) else 0
            edges = np.flatnonzero(real_edges & np.isin(self.edge_src, atoms))
            out.append({
                "pos": self.pos[atoms], "atom_types": self.atom_types[atoms], "forces": self.forces[atoms],
                "energy": self.energy[g], "stress": self.stress[g], "cell": self.cell[g],
                "edge_src": self.edge_src[edges] - first, "edge_dst": self.edge_dst[edges] - first,
                "edge_shift": np.rint(self.edge_shift[edges]).astype(np.int64),
            })
        return out


def collate(frames, type_mapper, n_pad=None, e_pad=None, num_graphs=None, atom_buckets=None, edge_buckets=None,
            dtype=np.float32, frame_ids=None):
    """Concatenate structures (with neighbour lists) into one padded ``Batch``.

    Args:
        frames (list[AtomicData]): structures whose neighbour lists were built (``build_neighbors``).
        type_mapper (TypeMapper): species -> type index; an unknown species raises ValueError.
        n_pad, e_pad (int, optional): exact padded sizes; default: rounded up with ``round_up``.
        num_graphs (int, optional): graph slots (>= len(frames)); ``g_pad = num_graphs + 1``.
        atom_buckets, edge_buckets (list[int], optional): bucket sizes for ``round_up``.
        dtype (numpy dtype): float dtype of the arrays.

    Returns:
        Batch

    Examples:
        >>> import numpy as np
        >>> from applications.nequip.data import AtomicData, TypeMapper, build_neighbors
        >>> fr = build_neighbors([AtomicData(pos=[[0, 0, 0], [0, 0, 1.0]], atomic_numbers=[1, 8], energy=-1.0)], 2.0)
        >>> b = collate(fr, TypeMapper([1, 8]))
        >>> b.bucket, b.edge_src[:3].tolist(), b.batch[:3].tolist()
        ((32, 32, 2), [0, 1, 31], [0, 0, 1])
    """
    if not frames:
        raise ValueError("collate: no frames")
    if not hasattr(type_mapper, "types"):
        raise ValueError(f"collate: type_mapper must be a TypeMapper, got {type(type_mapper).__name__}")
    num_graphs = len(frames) if num_graphs is None else int(num_graphs)
    if num_graphs < len(frames):
        raise ValueError(f"collate: num_graphs={num_graphs} < {len(frames)} frames")
    for i, f in enumerate(frames):
        if f.edge_src is None:
            raise ValueError(f"collate: frame {i} has no neighbour list; call build_neighbors(frames, r_max) first")
    n_real = sum(f.num_atoms for f in frames)
    e_real = sum(len(f.edge_src) for f in frames)
    n_pad = round_up(n_real + 1, atom_buckets, "atoms (with the dummy atom)") if n_pad is None else int(n_pad)
    e_pad = round_up(e_real, edge_buckets, "edges") if e_pad is None else int(e_pad)
    if n_pad < n_real + 1:
        raise ValueError(f"collate: n_pad={n_pad} has no room for {n_real} atoms + 1 dummy atom")
    if e_pad < e_real:
        raise ValueError(f"collate: e_pad={e_pad} < {e_real} edges")
    g_pad = num_graphs + 1
    dummy_atom, dummy_graph = n_pad - 1, g_pad - 1

    b = Batch(
        pos=np.zeros((n_pad, 3), dtype), atom_types=np.zeros(n_pad, np.int32),
        batch=np.full(n_pad, dummy_graph, np.int32), atom_mask=np.zeros((n_pad, 1), dtype),
        edge_src=np.full(e_pad, dummy_atom, np.int32), edge_dst=np.full(e_pad, dummy_atom, np.int32),
        edge_shift=np.zeros((e_pad, 3), dtype), edge_shift_vec=np.zeros((e_pad, 3), dtype),
        edge_mask=np.zeros((e_pad, 1), dtype), cell=np.zeros((g_pad, 3, 3), dtype), volume=np.ones(g_pad, dtype),
        graph_mask=np.zeros(g_pad, dtype), n_atoms=np.zeros(g_pad, dtype), energy=np.zeros(g_pad, dtype),
        forces=np.zeros((n_pad, 3), dtype), stress=np.zeros((g_pad, 3, 3), dtype),
        energy_mask=np.zeros(g_pad, dtype), forces_mask=np.zeros((n_pad, 1), dtype),
        stress_mask=np.zeros(g_pad, dtype), num_graphs=len(frames),
        frame_ids=None if frame_ids is None else np.asarray(frame_ids))
    a0 = e0 = 0
    for g, f in enumerate(frames):
        n, e = f.num_atoms, len(f.edge_src)
        a, ea = slice(a0, a0 + n), slice(e0, e0 + e)
        b.pos[a] = f.pos
        b.atom_types[a] = type_mapper.types(f.atomic_numbers, where=f"in frame {g} of the batch")
        b.batch[a] = g
        b.atom_mask[a] = 1
        b.edge_src[ea] = f.edge_src + a0
        b.edge_dst[ea] = f.edge_dst + a0
        b.edge_mask[ea] = 1
        if f.cell is not None:
            b.cell[g] = f.cell
            if f.pbc.any():
                b.volume[g] = abs(np.linalg.det(f.cell))
            b.edge_shift[ea] = f.edge_shift
            b.edge_shift_vec[ea] = f.edge_shift @ f.cell
        b.graph_mask[g] = 1
        b.n_atoms[g] = n
        if f.energy is not None:
            b.energy[g], b.energy_mask[g] = f.energy, 1
        if f.forces is not None:
            b.forces[a], b.forces_mask[a] = f.forces, 1
        if f.stress is not None:
            b.stress[g], b.stress_mask[g] = f.stress, 1
        a0, e0 = a0 + n, e0 + e
    return b


def max_bucket(frames, batch_size, multiple=16):
    """Worst-case ``(n_pad, e_pad)`` over any batch of ``batch_size`` frames, rounded up to ``multiple`` (16:
    the row tile of Ascend's cube units; aspirin in fives pads 106 atoms to 112, not 128): padding every batch to it
    gives a single compiled graph.

    Examples:
        >>> from applications.nequip.data import AtomicData, build_neighbors
        >>> fr = build_neighbors([AtomicData(pos=[[0, 0, 0], [0, 0, 1.0]], atomic_numbers=[1, 1])] * 3, 2.0)
        >>> max_bucket(fr, 2)
        (16, 16)
    """
    k = min(int(batch_size), len(frames))
    atoms = np.sort([f.num_atoms for f in frames])[::-1][:k].sum() + 1
    edges = np.sort([len(f.edge_src) for f in frames])[::-1][:k].sum()
    return int(-(-atoms // multiple) * multiple), int(max(-(-edges // multiple), 1) * multiple)


class BatchLoader:
    """Iterate over padded batches of a dataset; the order of epoch ``e`` depends only on ``(seed, e)``.

    Args:
        frames (list[AtomicData]): structures with neighbour lists.
        type_mapper (TypeMapper): species map (every frame is checked at construction).
        batch_size (int): graphs per batch; every batch has ``g_pad = batch_size + 1``.
        shuffle (bool): shuffle each epoch (seeded).
        seed (int): shuffle seed.
        drop_last (bool): drop a last, short batch.
        atom_buckets, edge_buckets (None, list[int] or 'max'): bucket sizes; None = ``32 * 2**k``;
            ``'max'`` = one worst-case size for the whole dataset (one compile).
        dtype (numpy dtype): float dtype of the arrays.

    Examples:
        >>> from applications.nequip.data import AtomicData, TypeMapper, build_neighbors
        >>> fr = build_neighbors([AtomicData(pos=[[0, 0, 0], [0, 0, 1.0 + i / 10]], atomic_numbers=[1, 1])
        ...                       for i in range(5)], 2.0)
        >>> loader = BatchLoader(fr, TypeMapper([1]), batch_size=2, seed=0)
        >>> [b.num_graphs for b in loader.epoch(0)], len(loader)
        ([2, 2, 1], 3)
    """

    def __init__(self, frames, type_mapper, batch_size, shuffle=True, seed=0, drop_last=False,
                 atom_buckets=None, edge_buckets=None, dtype=np.float32):
        if int(batch_size) < 1:
            raise ValueError(f"BatchLoader: batch_size must be >= 1, got {batch_size}")
        if not frames:
            raise ValueError("BatchLoader: no frames")
        type_mapper.check(frames)
        for i, f in enumerate(frames):
            if f.edge_src is None:
                raise ValueError(f"BatchLoader: frame {i} has no neighbour list; call build_neighbors first")
        self.frames, self.type_mapper = frames, type_mapper
        self.batch_size, self.shuffle, self.seed, self.drop_last = int(batch_size), shuffle, seed, drop_last
        self.dtype = dtype
        n_max, e_max = max_bucket(frames, batch_size)
        self.atom_buckets = [n_max] if atom_buckets == "max" else atom_buckets
        self.edge_buckets = [e_max] if edge_buckets == "max" else edge_buckets
        self._epoch = 0

    def __len__(self):
        n = len(self.frames)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch):
        """Frame indices in the order of ``epoch``."""
        if not self.shuffle:
            return np.arange(len(self.frames))
        return np.random.default_rng([int(self.seed), int(epoch)]).permutation(len(self.frames))

    def epoch(self, epoch, start=0):
        """Yield the batches of ``epoch`` from step ``start`` (reproducible: a resumed run asks for the same epoch
        number and the step it stopped at)."""
        idx = self.order(epoch)
        for k in range(int(start), len(self)):
            ids = idx[k * self.batch_size:(k + 1) * self.batch_size]
            yield collate([self.frames[i] for i in ids], self.type_mapper, num_graphs=self.batch_size,
                          atom_buckets=self.atom_buckets, edge_buckets=self.edge_buckets, dtype=self.dtype,
                          frame_ids=ids)

    def bucket_of(self, ids):
        """``(n_pad, e_pad, g_pad)`` of the batch of frames ``ids`` (from the counts; no batch is built)."""
        n_real = sum(self.frames[i].num_atoms for i in ids)
        e_real = sum(len(self.frames[i].edge_src) for i in ids)
        return (round_up(n_real + 1, self.atom_buckets, "atoms (with the dummy atom)"),
                round_up(e_real, self.edge_buckets, "edges"), self.batch_size + 1)

    def buckets(self, epochs):
        """Every bucket the batches of the epochs ``epochs`` take, sorted (to compile them all up front)."""
        out = set()
        for e in (epochs if self.shuffle else [0]):
            idx = self.order(e)
            out.update(self.bucket_of(idx[k * self.batch_size:(k + 1) * self.batch_size]) for k in range(len(self)))
        return sorted(out)

    def __iter__(self):
        it = self.epoch(self._epoch)
        self._epoch += 1
        return it


def padding_batch(n_pad, e_pad, num_graphs, dtype=np.float32):
    """A batch of padding only (no real structure) of the given bucket: what a data-parallel rank gets when a short
    last global batch has fewer structures than ranks, and the example input graphs are compiled with. Its loss
    and gradients are 0.

    >>> b = padding_batch(32, 32, 2)
    >>> b.bucket, b.num_graphs, float(b.atom_mask.sum())
    ((32, 32, 3), 0, 0.0)
    """
    g_pad = int(num_graphs) + 1
    n_pad, e_pad = int(n_pad), int(e_pad)
    z = np.zeros
    return Batch(pos=z((n_pad, 3), dtype), atom_types=z(n_pad, np.int32), batch=np.full(n_pad, g_pad - 1, np.int32),
                 atom_mask=z((n_pad, 1), dtype), edge_src=np.full(e_pad, n_pad - 1, np.int32),
                 edge_dst=np.full(e_pad, n_pad - 1, np.int32), edge_shift=z((e_pad, 3), dtype),
                 edge_shift_vec=z((e_pad, 3), dtype), edge_mask=z((e_pad, 1), dtype), cell=z((g_pad, 3, 3), dtype),
                 volume=np.ones(g_pad, dtype), graph_mask=z(g_pad, dtype), n_atoms=z(g_pad, dtype),
                 energy=z(g_pad, dtype), forces=z((n_pad, 3), dtype), stress=z((g_pad, 3, 3), dtype),
                 energy_mask=z(g_pad, dtype), forces_mask=z((n_pad, 1), dtype), stress_mask=z(g_pad, dtype),
                 num_graphs=0, frame_ids=np.zeros(0, np.int64))
