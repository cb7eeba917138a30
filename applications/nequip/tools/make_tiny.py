"""Generate the tiny periodic test set: strained, rattled fcc copper with a pure-numpy Morse potential.

Nothing but numpy/scipy is needed and it runs in well under a second, so tests can regenerate it. Energy,
forces and stress are exact derivatives of

.. math::  E = \\tfrac12 \\sum_{i \\ne j,\\,S} \\phi(r_{ijS}),\\quad
           \\phi(r) = D\\,[(1 - e^{-\\alpha (r - r_0)})^2 - 1]\\; s(r)

with Girifalco-Weizer copper parameters (D = 0.3429 eV, alpha = 1.3588 1/Å, r0 = 2.866 Å) and a smooth switch
``s`` = 1 below ``r_on`` = 3.5 Å, ``(1 + cos(pi (r - r_on) / (r_cut - r_on))) / 2`` up to ``r_cut`` = 4.5 Å.
Stress is ASE's ``(1/V) dE/dstrain`` (eV/Å^3).

Frames: the conventional fcc cell (a = 3.61 Å, 4 atoms) repeated ``--repeat`` times, a random symmetric strain
(components uniform in ±``--strain``), random displacements (normal, ``--rattle`` Å); seeded.

Output (our ``npz`` layout, eV / Å): ``atomic_numbers [N]``, ``pos [F,N,3]``, ``cell [F,3,3]``, ``pbc [3]``,
``energy [F]``, ``forces [F,N,3]``, ``stress [F,3,3]``::

    python -m applications.nequip.tools.make_tiny --out applications/nequip/datasets/tiny_cu_morse.npz
"""
import argparse
import os

import numpy as np

from mindchemistry_e3.util.graph import radius_graph

MORSE_CU = {"D": 0.3429, "alpha": 1.3588, "r0": 2.866, "r_on": 3.5, "r_cut": 4.5}


def _phi(r, D, alpha, r0, r_on, r_cut):
    """Pair energy and its derivative d(phi)/dr."""
    ex = np.exp(-alpha * (r - r0))
    m = D * ((1 - ex) ** 2 - 1)
    dm = 2 * D * alpha * (1 - ex) * ex
    x = np.clip((r - r_on) / (r_cut - r_on), 0.0, 1.0)
    s = 0.5 * (1 + np.cos(np.pi * x))
    ds = np.where((r > r_on) & (r < r_cut), -0.5 * np.pi * np.sin(np.pi * x) / (r_cut - r_on), 0.0)
    return m * s, dm * s + m * ds


def morse(pos, cell, params=None):
    """Energy (eV), forces (eV/Å) and stress (eV/Å^3) of a periodic Morse solid.

    Examples:
        >>> import numpy as np
        >>> e, f, s = morse(np.zeros((1, 3)), 2.55 * np.eye(3))
        >>> bool(e < 0), np.abs(f).max() < 1e-12
        (True, True)
    """
    p = dict(MORSE_CU if params is None else params)
    src, dst, shift = radius_graph(pos, p["r_cut"], cell=cell, pbc=True)
    vec = pos[dst] - pos[src] + shift @ cell
    r = np.linalg.norm(vec, axis=1)
    phi, dphi = _phi(r, **p)
    energy = 0.5 * phi.sum()
    g = (0.5 * dphi / r)[:, None] * vec  # dE/dvec for every directed edge
    forces = np.zeros_like(pos)
    np.add.at(forces, src, g)
    np.add.at(forces, dst, -g)
    stress = (vec.T @ g) / abs(np.linalg.det(cell))
    return float(energy), forces, stress


def make_frames(n_frames=40, repeat=(2, 1, 1), strain=0.04, rattle=0.08, a=3.61, seed=0):
    """Random strained and rattled fcc Cu cells; returns a dict of stacked arrays (our npz layout)."""
    rng = np.random.default_rng(seed)
    basis = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    reps = np.array([[i, j, k] for i in range(repeat[0]) for j in range(repeat[1]) for k in range(repeat[2])])
    frac = (basis[None, :, :] + reps[:, None, :]).reshape(-1, 3) / np.array(repeat)
    cell0 = a * np.diag(repeat).astype(float)
    out = {k: [] for k in ("pos", "cell", "energy", "forces", "stress")}
    for _ in range(n_frames):
        eps = rng.uniform(-strain, strain, size=(3, 3))
        cell = cell0 @ (np.eye(3) + 0.5 * (eps + eps.T))
        pos = frac @ cell + rng.normal(scale=rattle, size=frac.shape)
        e, f, s = morse(pos, cell)
        for k, v in zip(out, (pos, cell, e, f, s)):
            out[k].append(v)
    data = {k: np.array(v) for k, v in out.items()}
    data["atomic_numbers"] = np.full(len(frac), 29, dtype=np.int64)
    data["pbc"] = np.ones(3, dtype=bool)
    return data


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "datasets", "tiny_cu_morse.npz"))
    p.add_argument("--n-frames", type=int, default=40)
    p.add_argument("--repeat", type=int, nargs=3, default=[2, 1, 1])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    data = make_frames(args.n_frames, tuple(args.repeat), seed=args.seed)
    np.savez_compressed(args.out, **data)
    print(f"{args.out}: {args.n_frames} frames of {len(data['atomic_numbers'])} Cu atoms, "
          f"{os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
