"""Tests for applications/nequip/data (readers, neighbours, split, padded batches) and the dataset tools."""
import hashlib
import os
import re
import warnings

import numpy as np
import pytest
import mindspore as ms
from mindspore import nn, ops

from applications.nequip.data import (AtomicData, BatchLoader, IsolatedAtomWarning, TypeMapper,
                                      average_num_neighbors, build_neighbors, collate, detect_format, force_rms,
                                      max_bucket, per_species_energy_shift, read_dataset, read_extxyz, read_npz,
                                      read_rmd17, read_sgdml, round_up, train_val_test_split)
from applications.nequip.tools.make_tiny import make_frames, morse
from mindchemistry_e3.util.graph import radius_graph, scatter

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DATASETS = os.path.join(REPO, "applications", "nequip", "datasets")
# 1 kcal/mol in eV = 4184 J/mol / (N_A e); CODATA-2018 Faraday constant. The readers use ASE's CODATA-2014
# value, 8e-9 relative away, hence rtol=1e-7 below.
KCAL_MOL_EV = 4184.0 / 96485.33212


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "cu.npz"
    np.savez(path, **make_frames(n_frames=6, seed=3))
    return str(path)


def write_molecules(path, layout, n_frames=4, seed=0):
    """A small water-plus-methane 'molecule' file in the rMD17 or sGDML layout (kcal/mol, Å)."""
    rng = np.random.default_rng(seed)
    z = np.array([8, 1, 1, 6, 1, 1, 1, 1])
    pos = rng.uniform(0, 3, size=(n_frames, len(z), 3))
    e = rng.normal(size=n_frames) * 10 - 1000
    f = rng.normal(size=pos.shape)
    if layout == "rmd17":
        np.savez(path, nuclear_charges=z, coords=pos, energies=e, forces=f)
    else:
        np.savez(path, z=z, R=pos, E=e[:, None], F=f, e_unit="kcal/mol", r_unit="Ang")
    return z, pos, e, f


# ------------------------------------------------------------------------------------------- tiny dataset

def test_tiny_morse_forces_and_stress_are_derivatives():
    d = make_frames(n_frames=1, seed=1)
    pos, cell = d["pos"][0], d["cell"][0]
    e, f, s = morse(pos, cell)
    assert np.isclose(e, d["energy"][0]) and np.allclose(f, d["forces"][0])
    h = 1e-5
    fd = np.zeros_like(pos)
    for k in np.ndindex(*pos.shape):
        dp = np.zeros_like(pos)
        dp[k] = h
        fd[k] = -(morse(pos + dp, cell)[0] - morse(pos - dp, cell)[0]) / (2 * h)
    np.testing.assert_allclose(f, fd, atol=1e-7)
    assert np.abs(f).max() > 0.05  # the rattle gives real forces
    vol = abs(np.linalg.det(cell))
    fd_s = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            eps = np.zeros((3, 3))
            eps[a, b] = eps[b, a] = h / 2 if a != b else h
            ep = morse(pos @ (np.eye(3) + eps), cell @ (np.eye(3) + eps))[0]
            em = morse(pos @ (np.eye(3) - eps), cell @ (np.eye(3) - eps))[0]
            fd_s[a, b] = (ep - em) / (2 * h) / vol
    np.testing.assert_allclose(s, fd_s, atol=1e-8)


def test_tiny_is_seeded():
    a, b, c = make_frames(3, seed=0), make_frames(3, seed=0), make_frames(3, seed=1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.allclose(a["pos"], c["pos"])


def test_tiny_shipped_file_matches_generator():
    shipped = dict(np.load(os.path.join(DATASETS, "tiny_cu_morse.npz")))
    fresh = make_frames()
    for k in fresh:
        np.testing.assert_allclose(shipped[k], fresh[k], rtol=1e-12, atol=1e-12, err_msg=k)


# ------------------------------------------------------------------------------------------------ readers

def test_read_rmd17_converts_units(tmp_path):
    p = str(tmp_path / "m.npz")
    z, pos, e, f = write_molecules(p, "rmd17")
    frames = read_rmd17(p)
    assert detect_format(p) == "rmd17" and len(read_dataset(p)) == len(e)
    assert len(frames) == len(e)
    np.testing.assert_allclose([fr.energy for fr in frames], e * KCAL_MOL_EV, rtol=1e-7)
    np.testing.assert_allclose(frames[2].forces, f[2] * KCAL_MOL_EV, rtol=1e-7)
    np.testing.assert_array_equal(frames[1].pos, pos[1])
    np.testing.assert_array_equal(frames[0].atomic_numbers, z)
    assert frames[0].cell is None and not frames[0].pbc.any()
    fr_ev = read_rmd17(p, energy_unit="eV", length_unit="nm")
    np.testing.assert_allclose(fr_ev[0].pos, pos[0] * 10)
    np.testing.assert_allclose(fr_ev[0].forces, f[0] / 10)


def test_read_sgdml(tmp_path):
    p = str(tmp_path / "s.npz")
    z, pos, e, f = write_molecules(p, "sgdml")
    assert detect_format(p) == "sgdml"
    frames = read_sgdml(p)
    np.testing.assert_allclose([fr.energy for fr in frames], e * KCAL_MOL_EV, rtol=1e-7)
    np.testing.assert_allclose(frames[3].forces, f[3] * KCAL_MOL_EV, rtol=1e-7)
    np.testing.assert_allclose(read_sgdml(p, energy_unit="Hartree")[0].energy, e[0] * 27.211386024367243)


def test_read_npz_periodic(tiny):
    frames = read_dataset(tiny)
    d = np.load(tiny)
    assert len(frames) == 6 and frames[0].pbc.all()
    np.testing.assert_array_equal(frames[4].cell, d["cell"][4])
    np.testing.assert_array_equal(frames[4].stress, d["stress"][4])
    assert frames[5].energy == d["energy"][5]


def test_read_extxyz_roundtrip(tmp_path, tiny):
    ase = pytest.importorskip("ase")
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = read_npz(tiny)
    images = []
    for fr in frames:
        atoms = ase.Atoms(numbers=fr.atomic_numbers, positions=fr.pos, cell=fr.cell, pbc=True)
        voigt = fr.stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        atoms.calc = SinglePointCalculator(atoms, energy=fr.energy, forces=fr.forces, stress=voigt)
        images.append(atoms)
    images.append(ase.Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]))
    images[-1].info["energy"] = -14.2
    p = str(tmp_path / "mix.extxyz")
    ase.io.write(p, images, format="extxyz")
    back = read_dataset(p)
    assert len(back) == len(frames) + 1
    for a, b in zip(frames, back):
        np.testing.assert_allclose(b.pos, a.pos, atol=1e-6)
        np.testing.assert_allclose(b.forces, a.forces, atol=1e-6)
        np.testing.assert_allclose(b.cell, a.cell, atol=1e-6)
        np.testing.assert_allclose(b.stress, a.stress, atol=1e-6)
        assert np.isclose(b.energy, a.energy)
    assert back[-1].cell is None and back[-1].energy == -14.2 and back[-1].forces is None
    kcal = read_extxyz(p, energy_unit="kcal/mol")
    assert np.isclose(kcal[0].energy, frames[0].energy * KCAL_MOL_EV, rtol=1e-7, atol=0)


def test_bad_input_files(tmp_path):
    p = str(tmp_path / "bad.npz")
    np.savez(p, nuclear_charges=[1, 1], coords=np.zeros((2, 2, 3)), energies=np.zeros(2))
    with pytest.raises(ValueError, match=r"missing keys \['forces'\]"):
        read_rmd17(p)
    np.savez(p, nuclear_charges=[1, 1], coords=np.zeros((2, 2, 3)), energies=np.zeros(2),
             forces=np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="forces must have the shape of coords"):
        read_rmd17(p)
    np.savez(p, nuclear_charges=[1, 1, 1], coords=np.zeros((2, 2, 3)), energies=np.zeros(2),
             forces=np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="nuclear_charges must have shape"):
        read_rmd17(p)
    np.savez(p, nuclear_charges=[1, 1], coords=np.zeros((2, 2, 3)), energies=np.zeros(3),
             forces=np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="energies must have shape"):
        read_rmd17(p)
    np.savez(p, nuclear_charges=[1, 0], coords=np.zeros((2, 2, 3)), energies=np.zeros(2),
             forces=np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="1..118"):
        read_rmd17(p)
    np.savez(p, foo=np.zeros(2))
    with pytest.raises(ValueError, match="cannot tell the npz layout"):
        read_dataset(p)
    with pytest.raises(ValueError, match="unknown energy unit"):
        write_molecules(p, "rmd17")
        read_rmd17(p, energy_unit="kcal")
    with pytest.raises(FileNotFoundError):
        read_rmd17(str(tmp_path / "nope.npz"))
    with pytest.raises(ValueError, match="extension"):
        read_dataset(str(tmp_path / "x.h5"))


# --------------------------------------------------------------------------------------- species, neighbours

def test_unknown_species():
    fr = build_neighbors([AtomicData(pos=[[0, 0, 0], [0, 0, 1.0]], atomic_numbers=[1, 9])], 2.0)
    with pytest.raises(ValueError, match=r"unknown species \['F'\]"):
        collate(fr, TypeMapper(["H", "C"]))
    with pytest.raises(ValueError, match="unknown species"):
        BatchLoader(fr, TypeMapper([1, 6]), batch_size=1)
    with pytest.raises(ValueError, match="unknown chemical symbol"):
        TypeMapper(["Xx"])
    assert TypeMapper.from_frames(fr).species == [1, 9]


def test_neighbors_periodic(tiny):
    frames = build_neighbors(read_npz(tiny), 4.0)
    for fr in frames:
        s, d, sh = radius_graph(fr.pos, 4.0, cell=fr.cell, pbc=True)
        np.testing.assert_array_equal(fr.edge_src, s)
        np.testing.assert_array_equal(fr.edge_shift, sh)
        assert np.all(np.linalg.norm(fr.edge_vectors(), axis=1) < 4.0)
    # 8 atoms, ~12 first + 6 second neighbours in a cell shorter than the cutoff: images of atoms themselves
    assert 14 < average_num_neighbors(frames) < 22
    assert any((fr.edge_src == fr.edge_dst).any() for fr in frames)


def test_isolated_atoms_warn_or_raise():
    fr = [AtomicData(pos=[[0, 0, 0], [0, 0, 1.0], [0, 0, 5.0]], atomic_numbers=[1, 1, 8])]
    with pytest.warns(IsolatedAtomWarning, match=r"frame 0: atoms \[2\] \(O\)"):
        build_neighbors(fr, 2.0)
    with pytest.raises(ValueError, match="without neighbours"):
        build_neighbors(fr, 2.0, on_isolated="raise")
    with pytest.raises(ValueError, match="no edge in any"):
        build_neighbors(fr, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_neighbors(fr, 2.0, on_isolated="ignore")
        build_neighbors(fr, 4.5)


# ---------------------------------------------------------------------------------------------------- split

def test_split_reproducible():
    a = train_val_test_split(100, 70, 20, seed=5)
    b = train_val_test_split(100, 70, 20, seed=5)
    c = train_val_test_split(100, 70, 20, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert [len(x) for x in a] == [70, 20, 10]
    assert len(np.unique(np.concatenate(a))) == 100
    assert [len(x) for x in train_val_test_split(10, 0.5, 0.2, 0.1)] == [5, 2, 1]
    with pytest.raises(ValueError, match="exceeds"):
        train_val_test_split(10, 8, 3)
    with pytest.raises(ValueError, match="n_val"):
        train_val_test_split(10, 5, -1)


# -------------------------------------------------------------------------------------------------- batches

def mixed_frames(tiny):
    """Periodic copper and small molecules, with neighbour lists, in one list."""
    rng = np.random.default_rng(7)
    mols = [AtomicData(pos=rng.uniform(0, 2.5, size=(n, 3)), atomic_numbers=rng.choice([1, 6, 8], size=n),
                       energy=float(rng.normal()), forces=rng.normal(size=(n, 3))) for n in (3, 5, 4)]
    return build_neighbors(read_npz(tiny)[:3] + mols, 3.0)


def test_round_up():
    assert [round_up(n) for n in (1, 32, 33, 64, 65, 1000)] == [32, 32, 64, 64, 128, 1024]
    assert round_up(70, [64, 96]) == 96
    with pytest.raises(ValueError, match="largest bucket"):
        round_up(100, [64, 96])


def test_padding_roundtrip(tiny):
    frames = mixed_frames(tiny)
    tm = TypeMapper([1, 6, 8, 29])
    b = collate(frames, tm, num_graphs=8, dtype=np.float64)
    n_real = sum(f.num_atoms for f in frames)
    assert b.n_pad >= n_real + 1 and b.g_pad == 9 and b.num_graphs == len(frames)
    assert b.bucket == (round_up(n_real + 1), round_up(sum(f.num_edges for f in frames)), 9)
    pad_e = b.edge_mask[:, 0] == 0
    assert np.all(b.edge_src[pad_e] == b.n_pad - 1) and np.all(b.edge_dst[pad_e] == b.n_pad - 1)
    assert np.all(b.batch[b.atom_mask[:, 0] == 0] == b.g_pad - 1)
    assert b.graph_mask.tolist() == [1] * 6 + [0] * 3
    for fr, g in zip(frames, b.unpad()):
        np.testing.assert_array_equal(g["pos"], fr.pos)
        np.testing.assert_array_equal(g["forces"], fr.forces)
        np.testing.assert_array_equal(g["atom_types"], tm.types(fr.atomic_numbers))
        np.testing.assert_array_equal(g["edge_src"], fr.edge_src)
        np.testing.assert_array_equal(g["edge_dst"], fr.edge_dst)
        np.testing.assert_array_equal(g["edge_shift"], fr.edge_shift)
        assert g["energy"] == fr.energy
        if fr.cell is not None:
            np.testing.assert_array_equal(g["stress"], fr.stress)
    assert np.allclose(b.volume, [abs(np.linalg.det(f.cell)) if f.cell is not None else 1 for f in frames] + [1] * 3)
    # edge vectors from the batch arrays equal the per-frame ones
    vec = b.pos[b.edge_dst] - b.pos[b.edge_src] + b.edge_shift_vec
    real = ~pad_e
    np.testing.assert_allclose(vec[real], np.concatenate([f.edge_vectors() for f in frames]), atol=1e-12)
    np.testing.assert_array_equal(vec[pad_e], 0)
    with pytest.raises(ValueError, match="room"):
        collate(frames, tm, n_pad=n_real)
    with pytest.raises(ValueError, match="e_pad"):
        collate(frames, tm, e_pad=10)


class _PairEnergy(nn.Cell):
    """Per-graph energy sum_edges exp(-|r|^2) * edge_mask, scattered to atoms then to graphs."""

    def construct(self, pos, shift_vec, src, dst, edge_mask, batch):
        vec = ops.gather(pos, dst, 0) - ops.gather(pos, src, 0) + shift_vec
        e_edge = ops.exp(-(vec * vec).sum(-1, keepdims=True)) * edge_mask
        e_atom = scatter(e_edge, src, pos.shape[0])
        return scatter(e_atom, batch, 4)[:, 0]


def test_padded_equals_unpadded_in_graph_mode(graph_mode, tiny):
    frames = mixed_frames(tiny)[2:5]  # one periodic, two molecules
    tm = TypeMapper.from_frames(frames)
    net = _PairEnergy()

    def total(*a):
        return net(*a).sum()

    grad = ms.grad(total, grad_position=0)

    def run(bt):
        args = [ms.Tensor(bt.pos), ms.Tensor(bt.edge_shift_vec), ms.Tensor(bt.edge_src), ms.Tensor(bt.edge_dst),
                ms.Tensor(bt.edge_mask), ms.Tensor(bt.batch)]
        return net(*args).asnumpy(), grad(*args).asnumpy()

    tight = collate(frames, tm, num_graphs=3, n_pad=sum(f.num_atoms for f in frames) + 1,
                    e_pad=sum(f.num_edges for f in frames), dtype=np.float64)
    loose = collate(frames, tm, num_graphs=3, n_pad=128, e_pad=1024, dtype=np.float64)
    (e1, f1), (e2, f2) = run(tight), run(loose)
    np.testing.assert_allclose(e2, e1, rtol=1e-12)
    np.testing.assert_allclose(f2[:tight.n_pad - 1], f1[:tight.n_pad - 1], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(f2[tight.n_pad - 1:], 0)
    for g, fr in enumerate(frames):  # and each graph's energy equals the single-structure value
        want = np.exp(-(fr.edge_vectors() ** 2).sum(1)).sum()
        assert np.isclose(e1[g], want, rtol=1e-12)
    assert e1[3] == 0  # dummy graph


def test_loader_epochs_and_buckets(tiny):
    frames = mixed_frames(tiny)
    tm = TypeMapper.from_frames(frames)
    loader = BatchLoader(frames, tm, batch_size=4, seed=3)
    ep0 = [b.frame_ids.tolist() for b in loader.epoch(0)]
    assert ep0 == [b.frame_ids.tolist() for b in loader.epoch(0)]
    assert ep0 != [b.frame_ids.tolist() for b in loader.epoch(1)]
    assert sorted(sum(ep0, [])) == list(range(len(frames)))
    assert all(b.g_pad == 5 for b in loader.epoch(0)) and len(loader) == 2
    assert [b.num_graphs for b in loader.epoch(0)] == [4, 2]
    assert len(BatchLoader(frames, tm, batch_size=4, drop_last=True)) == 1
    one = BatchLoader(frames, tm, batch_size=2, atom_buckets="max", edge_buckets="max")
    buckets = {b.bucket for e in range(3) for b in one.epoch(e)}
    assert buckets == {(*max_bucket(frames, 2), 3)}


def test_statistics():
    tm = TypeMapper([1, 8])
    rng = np.random.default_rng(0)
    mu = np.array([-13.6, -2041.0])
    frames = []
    for n_h, n_o in [(2, 1), (1, 1), (4, 2), (0, 2), (2, 2)]:
        z = [1] * n_h + [8] * n_o
        frames.append(AtomicData(pos=rng.normal(size=(len(z), 3)), atomic_numbers=z,
                                 energy=n_h * mu[0] + n_o * mu[1], forces=np.full((len(z), 3), 2.0)))
    np.testing.assert_allclose(per_species_energy_shift(frames, tm), mu, rtol=1e-10)
    assert np.isclose(force_rms(frames), 2.0)


# --------------------------------------------------------------------------------------- shipped aspirin set

@pytest.mark.parametrize("name,n_frames", [("aspirin_xtb_trainval.npz", 1000), ("aspirin_xtb_test.npz", 200)])
def test_shipped_aspirin(name, n_frames):
    path = os.path.join(DATASETS, name)
    assert os.path.getsize(path) < 2 * 1024 * 1024
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    readme = open(os.path.join(DATASETS, "README.md"), encoding="utf-8").read()
    assert re.search(rf"{re.escape(name)}.*{sha}", readme), f"README.md does not list sha256 {sha} for {name}"
    frames = read_dataset(path)
    assert detect_format(path) == "rmd17" and len(frames) == n_frames
    assert sorted(frames[0].atomic_numbers.tolist()) == [1] * 8 + [6] * 9 + [8] * 4  # C9H8O4
    e = np.array([f.energy for f in frames])
    f = np.stack([fr.forces for fr in frames])
    assert e.std() < 1.0 and 0.3 < np.sqrt((f ** 2).mean()) < 3.0  # eV and eV/Å at 500 K
    assert np.abs(f.sum(axis=1)).max() < 1e-3  # no net force on an isolated molecule
    d = np.linalg.norm(frames[0].pos[:, None] - frames[0].pos[None], axis=-1)
    assert d[np.triu_indices(21, 1)].min() > 0.8  # no collapsed atoms
