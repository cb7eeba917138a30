"""Molecular dynamics with a trained NequIP model through ASE: Langevin (NVT) then NVE, with a stability report.

Usage::

    OMP_NUM_THREADS=1 mindchemistry-nequip md --checkpoint outputs/nequip/aspirin/best.ckpt \\
        --structure applications/nequip/datasets/aspirin_xtb_test.npz --frame 0 \\
        --temperature 500 --time-fs 1000 --dt 0.5 --friction 0.01 --nve-time-fs 500 --seed 0 --out outputs/md
    mindchemistry-nequip md --model exported/aspirin ...           # an export of deploy (batch size 1)

The start structure is a frame of one of our dataset files (rMD17 / sGDML / our npz / extxyz, read with
:func:`applications.nequip.data.read_dataset`) or any file ASE can read. Velocities are drawn from the
Maxwell-Boltzmann distribution at ``--temperature`` (seeded), without centre-of-mass motion and (for molecules)
without rotation; the centre of mass is held fixed (``ase.constraints.FixCom``, so temperatures count 3N - 3
degrees of freedom); ``ase.md.langevin.Langevin`` runs for ``--time-fs``, then ``ase.md.verlet.VelocityVerlet``
continues from the final Langevin state for ``--nve-time-fs``.

Written to ``--out``: ``langevin.extxyz`` and ``nve.extxyz`` (every ``--write-every`` steps, with energy, forces
and momenta), ``md_log.csv`` (``time_fs, phase, epot, ekin, etot, temperature``; eV and K, every step) and
``md_summary.json`` (see :func:`run_md`), which is also printed. Exit status: 0 stable, 1 unstable (a broken
bond or a non-finite energy), 2 bad input.

"Stable" means: every energy finite and no covalent bond broken. Bonds are the pairs closer than 1.2 x the sum of
ASE's covalent radii in the start structure; one counts as broken when it stretches beyond 1.5 x its start length
at any step.
"""
import csv
import math
import os
import sys
import time

import numpy as np

from applications.nequip.checks import check_number
from applications.nequip.files import write_json

__all__ = ["load_structure", "bonded_pairs", "BondMonitor", "nve_energy_statistics", "run_md", "main"]

#: bonded pair: start distance < BOND_FACTOR * (r_cov_i + r_cov_j)
BOND_FACTOR = 1.2
#: broken bond: distance > BREAK_FACTOR * start distance
BREAK_FACTOR = 1.5


def load_structure(structure, frame=0):
    """The start structure as ``ase.Atoms``: frame ``frame`` of a dataset file (npz / extxyz, eV and Å) or of any
    file ASE can read.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be read, or has no frame ``frame``.

    Examples:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "h2.npz")
        >>> np.savez(p, nuclear_charges=[1, 1], coords=[[[0, 0, 0], [0, 0, 0.74]]], energies=[0.0],
        ...          forces=np.zeros((1, 2, 3)))
        >>> load_structure(p).get_chemical_formula()
        'H2'
    """
    from ase import Atoms

    structure = str(structure)
    if not os.path.exists(structure):
        raise FileNotFoundError(f"structure file not found: {structure}")
    ext = os.path.splitext(structure)[1].lower()
    if ext in (".npz", ".xyz", ".extxyz"):
        from applications.nequip.data import read_dataset

        try:
            frames = read_dataset(structure)
        except (KeyError, IndexError) as err:
            raise ValueError(f"{structure}: cannot read it as a dataset ({type(err).__name__}: {err})") from None
        if not -len(frames) <= frame < len(frames):
            raise ValueError(f"{structure} has {len(frames)} frames, no frame {frame}")
        return frames[frame].to_ase()
    from ase.io import read

    try:
        atoms = read(structure, index=frame)
    except IndexError:
        raise ValueError(f"{structure} has no frame {frame}") from None
    except Exception as err:  # noqa: BLE001 - ASE raises many kinds for unreadable files
        raise ValueError(f"{structure}: ASE cannot read it ({type(err).__name__}: {err})") from None
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


def bonded_pairs(atoms, factor=BOND_FACTOR):
    """Covalently bonded pairs of ``atoms``: ``(i, j, shift, d0)`` with ``i < j`` (or a periodic image) and
    ``d0 < factor * (r_cov_i + r_cov_j)``; ``shift`` [P, 3] integer cell shifts of ``j``, ``d0`` [P] in Å.

    Examples:
        >>> from ase.build import molecule
        >>> i, j, s, d0 = bonded_pairs(molecule("H2O"))
        >>> sorted(zip(i.tolist(), j.tolist()))   # O-H twice, no H-H bond
        [(0, 1), (0, 2)]
    """
    from ase.data import covalent_radii
    from ase.neighborlist import neighbor_list

    radii = factor * covalent_radii[atoms.numbers]
    i, j, shift, d = neighbor_list("ijSd", atoms, radii)
    # each pair appears twice, (i, j, S) and (j, i, -S): keep i < j, and for a bond to an image of the same
    # atom the one whose first non-zero shift component is positive
    first = np.array([s[np.flatnonzero(s)[0]] if s.any() else 0 for s in shift], dtype=np.int64)
    keep = (i < j) | ((i == j) & (first > 0))
    return i[keep], j[keep], shift[keep], d[keep]


class BondMonitor:
    """Tracks the largest stretch ``d / d0`` of every bond of the start structure over a trajectory.

    Args:
        atoms (ase.Atoms): the start structure (defines the bonds).
        factor (float): bond criterion, see :func:`bonded_pairs`.
        break_factor (float): a bond is broken once ``d > break_factor * d0``.

    Examples:
        >>> from ase.build import molecule
        >>> atoms = molecule("H2O"); mon = BondMonitor(atoms)
        >>> atoms.positions[1] *= 2.0; mon.update(atoms); mon.report()["broken_bonds"]
        1
    """

    def __init__(self, atoms, factor=BOND_FACTOR, break_factor=BREAK_FACTOR):
        self.i, self.j, self.shift, self.d0 = bonded_pairs(atoms, factor)
        self.symbols = atoms.get_chemical_symbols()
        self.break_factor = float(break_factor)
        self.max_ratio = np.ones(len(self.d0))
        self.min_distance = math.inf

    def distances(self, atoms):
        """Current lengths [P] of the start structure's bonds (same periodic images)."""
        pos = atoms.positions
        vec = pos[self.j] - pos[self.i] + self.shift @ atoms.cell.array
        return np.linalg.norm(vec, axis=1)

    def update(self, atoms):
        """Record the bond lengths and the shortest interatomic distance of ``atoms``."""
        if len(self.d0):
            self.max_ratio = np.maximum(self.max_ratio, self.distances(atoms) / self.d0)
        if len(atoms) > 1:
            if atoms.pbc.any():
                dmin = np.min(atoms.get_all_distances(mic=True) + np.eye(len(atoms)) * 1e9)
            else:
                diff = atoms.positions[:, None] - atoms.positions[None]
                dmin = np.min(np.linalg.norm(diff, axis=-1) + np.eye(len(atoms)) * 1e9)
            self.min_distance = min(self.min_distance, float(dmin))

    def report(self):
        """``bonds``, ``max_bond_stretch`` (max d/d0), ``broken_bonds`` (count), ``broken`` (a few, named),
        ``min_distance_A``."""
        broken = np.flatnonzero(self.max_ratio > self.break_factor)
        names = [f"{self.symbols[self.i[k]]}{self.i[k]}-{self.symbols[self.j[k]]}{self.j[k]}"
                 f" x{self.max_ratio[k]:.2f}" for k in broken[:10]]
        return {"bonds": int(len(self.d0)),
                "max_bond_stretch": float(self.max_ratio.max()) if len(self.d0) else 1.0,
                "broken_bonds": int(len(broken)), "broken": names,
                "min_distance_A": float(self.min_distance)}


def nve_energy_statistics(time_fs, etot, ekin, n_atoms):
    """Energy conservation figures of an NVE run (energies in eV, per atom in meV).

    Returns:
        dict: ``nve_drift_meV_atom_ps`` (slope of a linear fit of the total energy), ``nve_etot_std_meV_atom``,
        ``nve_ekin_std_meV_atom`` (a conserved total fluctuates far less than its kinetic part),
        ``nve_etot_max_dev_meV_atom`` (largest deviation from the first value).

    Examples:
        >>> t = np.arange(11.0) * 100                     # fs
        >>> s = nve_energy_statistics(t, 1.0 + 1e-4 * t / 1000, np.sin(t), n_atoms=2)
        >>> round(s["nve_drift_meV_atom_ps"], 6)          # 0.1 meV/ps over 2 atoms
        0.05
    """
    time_ps = np.asarray(time_fs, np.float64) / 1000.0
    etot = np.asarray(etot, np.float64)
    ekin = np.asarray(ekin, np.float64)
    scale = 1000.0 / n_atoms
    slope = float(np.polyfit(time_ps, etot, 1)[0]) if len(etot) > 1 else float("nan")
    return {"nve_drift_meV_atom_ps": slope * scale,
            "nve_etot_std_meV_atom": float(np.std(etot)) * scale,
            "nve_ekin_std_meV_atom": float(np.std(ekin)) * scale,
            "nve_etot_max_dev_meV_atom": float(np.max(np.abs(etot - etot[0]))) * scale}


def _steps(time_fs, dt, what):
    check_number(dt, "dt (fs)", minimum=0, strict=True)
    check_number(time_fs, f"{what} (fs)", minimum=0)
    return int(round(time_fs / dt))


def run_md(checkpoint=None, structure=None, frame=0, temperature=500.0, time_fs=1000.0, dt=0.5, friction=0.01,
           nve_time_fs=500.0, seed=0, out=None, write_every=20, predictor=None, atoms=None, use_ema=True,
           verbose=False, model=None):
    """Langevin then NVE dynamics with a NequIP model; returns the summary dict (also ``out/md_summary.json``).

    Args:
        checkpoint (str): NequIP checkpoint (or give ``model`` or ``predictor``).
        structure (str): start structure file, see :func:`load_structure` (or give ``atoms``).
        frame (int): frame of ``structure``.
        temperature (float): Langevin target and initial velocity temperature (K).
        time_fs (float): Langevin time (fs); 0 skips it (velocities still drawn at ``temperature``).
        dt (float): time step (fs), both phases.
        friction (float): Langevin friction (1/fs).
        nve_time_fs (float): NVE time (fs) after the Langevin part; 0 skips it.
        seed (int): seeds the velocities and the Langevin noise (``np.random.default_rng(seed)``).
        out (str): output folder (trajectories, ``md_log.csv``, ``md_summary.json``); None writes nothing.
        write_every (int): trajectory frame every this many steps.
        predictor (Predictor): an already loaded predictor (reuses its compiled graphs).
        atoms (ase.Atoms): start structure instead of ``structure`` (copied).
        use_ema (bool): EMA weights of the checkpoint.
        verbose (bool): print progress.
        model (str): an exported model (the folder written by ``deploy``, batch size 1) instead of a checkpoint.

    Returns:
        dict: run settings, ``steps`` / ``langevin_steps`` / ``nve_steps``, ``first_call_s`` (first energy and
        forces: neighbour list, graph compile), ``wall_s`` (the MD loop), ``ms_per_step`` (mean, without the first
        step) / ``ms_per_step_median`` / ``max_step_ms``, ``langevin_T_mean_K`` / ``langevin_T_std_K`` (second half
        of the Langevin part), the :func:`nve_energy_statistics`, ``max_force_eV_A``, the :class:`BondMonitor`
        report, ``finite``, ``stable``, and ``log`` (the per-step rows; not in the JSON file).

    Raises:
        ValueError: bad checkpoint, unreadable structure, species the model does not know, bad times.
        FileNotFoundError: missing structure file.
    """
    from ase import units
    from ase.constraints import FixCom
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, ZeroRotation
    from ase.md.verlet import VelocityVerlet

    from applications.nequip.calculator import NequIPCalculator

    n_lang = _steps(time_fs, dt, "Langevin time")
    n_nve = _steps(nve_time_fs, dt, "NVE time")
    check_number(temperature, "temperature (K)", minimum=0)
    check_number(friction, "friction (1/fs)", minimum=0)
    check_number(write_every, "write_every", integer=True, minimum=1)
    if atoms is None:
        if structure is None:
            raise ValueError("run_md: give a structure file or atoms")
        atoms = load_structure(structure, frame)
    else:
        atoms = atoms.copy()
    if predictor is None:
        from applications.nequip.inference import load_predictor

        predictor = load_predictor(checkpoint, model, use_ema=use_ema, batch_size=1)
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(predictor.species))
    if unknown:
        raise ValueError(f"the structure holds species {unknown} the model does not know; the model knows "
                         f"{list(predictor.species)}")
    atoms.calc = NequIPCalculator(predictor=predictor)

    # the centre of mass stays put through a FixCom constraint (ASE's recommended replacement of Langevin's
    # fixcm, which does not sample NVT exactly); it also removes its 3 degrees of freedom from the temperature
    atoms.set_constraint(FixCom())
    rng = np.random.default_rng(seed)
    try:  # ASE >= 3.29
        from ase.md.velocitydistribution import thermalize_momenta
    except ImportError:
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    if not atoms.pbc.any():
        ZeroRotation(atoms)

    t0 = time.perf_counter()
    atoms.get_potential_energy()
    first_call_s = time.perf_counter() - t0

    writers = {}
    if out is not None:
        os.makedirs(out, exist_ok=True)
        for phase in ("langevin", "nve"):
            path = os.path.join(out, f"{phase}.extxyz")
            if os.path.exists(path):
                os.remove(path)
    monitor = BondMonitor(atoms)
    rows, stamps = [], []
    state = {"t_offset": 0.0, "phase": "langevin", "max_force": 0.0, "dyn": None}
    n_atoms = len(atoms)

    def observe():
        dyn = state["dyn"]
        stamps.append(time.perf_counter())
        epot = float(atoms.get_potential_energy())
        forces = atoms.get_forces()
        ekin = float(atoms.get_kinetic_energy())
        t = state["t_offset"] + dyn.get_time() / units.fs
        rows.append((t, state["phase"], epot, ekin, epot + ekin, float(atoms.get_temperature())))
        state["max_force"] = max(state["max_force"], float(np.max(np.linalg.norm(forces, axis=1))))
        monitor.update(atoms)
        if out is not None and dyn.nsteps % int(write_every) == 0:
            snap = atoms.copy()
            snap.set_constraint()
            snap.calc = SinglePointCalculator(snap, energy=epot, forces=forces.copy())
            snap.info["time_fs"] = t
            write(os.path.join(out, f"{state['phase']}.extxyz"), snap, format="extxyz", append=True)
        if verbose and dyn.nsteps % max(1, (n_lang + n_nve) // 20) == 0:
            print(f"{state['phase']:8s} t={t:9.1f} fs  T={rows[-1][5]:7.1f} K  etot={epot + ekin:.5f} eV",
                  flush=True)

    wall0 = time.perf_counter()
    if n_lang:
        dyn = Langevin(atoms, dt * units.fs, temperature_K=temperature, friction=friction / units.fs,
                       fixcm=False, rng=rng)
        state["dyn"] = dyn
        dyn.attach(observe, interval=1)
        dyn.run(n_lang)
        state["t_offset"] = n_lang * dt
    n_lang_rows = len(rows)
    if n_nve:
        state["phase"] = "nve"
        dyn = VelocityVerlet(atoms, dt * units.fs)
        state["dyn"] = dyn
        dyn.attach(observe, interval=1)
        dyn.run(n_nve)
    wall_s = time.perf_counter() - wall0

    lang = rows[:n_lang_rows]
    nve = rows[n_lang_rows:]
    step_ms = np.diff(np.array(stamps)) * 1000.0
    # the first row of each phase is its start state (no step); drop the gap across the phase change
    if n_lang_rows and nve:
        step_ms = np.delete(step_ms, n_lang_rows - 1)
    step_ms = step_ms[1:] if len(step_ms) > 1 else step_ms
    energies = np.array([r[2:5] for r in rows], np.float64)
    summary = {
        "checkpoint": None if checkpoint is None else str(checkpoint), "model": None if model is None else str(model),
        "structure": None if structure is None else str(structure), "frame": int(frame),
        "formula": atoms.get_chemical_formula(), "n_atoms": n_atoms, "periodic": bool(atoms.pbc.any()),
        "temperature_K": float(temperature), "dt_fs": float(dt), "friction_per_fs": float(friction),
        "seed": int(seed), "langevin_time_fs": n_lang * dt, "nve_time_fs": n_nve * dt,
        "langevin_steps": n_lang, "nve_steps": n_nve, "steps": n_lang + n_nve,
        "first_call_s": first_call_s, "wall_s": wall_s,
        "ms_per_step": float(np.mean(step_ms)) if len(step_ms) else float("nan"),
        "ms_per_step_median": float(np.median(step_ms)) if len(step_ms) else float("nan"),
        "max_step_ms": float(np.max(step_ms)) if len(step_ms) else float("nan"),
    }
    half = [r[5] for r in lang[len(lang) // 2:]]
    summary["langevin_T_mean_K"] = float(np.mean(half)) if half else float("nan")
    summary["langevin_T_std_K"] = float(np.std(half)) if half else float("nan")
    if nve:
        summary.update(nve_energy_statistics([r[0] for r in nve], [r[4] for r in nve], [r[3] for r in nve],
                                             n_atoms))
    else:
        summary.update({k: float("nan") for k in ("nve_drift_meV_atom_ps", "nve_etot_std_meV_atom",
                                                  "nve_ekin_std_meV_atom", "nve_etot_max_dev_meV_atom")})
    summary["max_force_eV_A"] = state["max_force"]
    summary.update(monitor.report())
    summary["finite"] = bool(np.all(np.isfinite(energies))) and math.isfinite(state["max_force"])
    summary["stable"] = summary["finite"] and summary["broken_bonds"] == 0

    if out is not None:
        with open(os.path.join(out, "md_log.csv"), "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["time_fs", "phase", "epot", "ekin", "etot", "temperature"])
            for t, phase, epot, ekin, etot, temp in rows:
                w.writerow([f"{t:.4f}", phase, repr(epot), repr(ekin), repr(etot), f"{temp:.4f}"])
        write_json(os.path.join(out, "md_summary.json"), summary)
    summary["log"] = rows
    return summary


def format_summary(summary):
    """Human-readable lines of a :func:`run_md` summary."""
    s = summary
    lines = [
        f"{s['formula']} ({s['n_atoms']} atoms): {s['langevin_steps']} Langevin steps at {s['temperature_K']:g} K "
        f"+ {s['nve_steps']} NVE steps, dt {s['dt_fs']:g} fs",
        f"first call (compile) {s['first_call_s']:.1f} s; MD {s['wall_s']:.1f} s, {s['ms_per_step']:.1f} ms/step "
        f"(median {s['ms_per_step_median']:.1f}, max {s['max_step_ms']:.0f})",
        f"Langevin T (2nd half) {s['langevin_T_mean_K']:.1f} +- {s['langevin_T_std_K']:.1f} K",
        f"NVE drift {s['nve_drift_meV_atom_ps']:.3f} meV/atom/ps; etot std {s['nve_etot_std_meV_atom']:.3f} "
        f"meV/atom (ekin std {s['nve_ekin_std_meV_atom']:.3f}); max |etot - etot0| "
        f"{s['nve_etot_max_dev_meV_atom']:.3f} meV/atom",
        f"max |F| {s['max_force_eV_A']:.2f} eV/A; {s['bonds']} bonds, max stretch x{s['max_bond_stretch']:.3f}, "
        f"{s['broken_bonds']} broken; min distance {s['min_distance_A']:.3f} A",
        f"stable: {s['stable']} (finite: {s['finite']})",
    ]
    if s["broken"]:
        lines.append("broken bonds: " + ", ".join(s["broken"]))
    return "\n".join(lines)


def main(argv=None, prog="python -m applications.nequip.md"):
    """``md (--checkpoint CKPT | --model DIR) --structure FILE --out DIR [options]``."""
    from applications.nequip import cli

    parser = cli.Parser(prog=prog, description="Langevin + NVE molecular dynamics with a NequIP model.")
    cli.add_inference_options(parser)
    parser.add_argument("--structure", required=True, help="start structure: dataset file (npz/extxyz) or any "
                                                            "ASE-readable file")
    parser.add_argument("--frame", type=cli.number(integer=True), default=0,
                        help="frame of --structure (default 0; negative counts from the end)")
    parser.add_argument("--temperature", type=cli.number(minimum=0), default=500.0, help="K (default 500)")
    parser.add_argument("--time-fs", type=cli.number(minimum=0), default=1000.0,
                        help="Langevin time, fs (default 1000)")
    parser.add_argument("--dt", type=cli.number(minimum=0, strict=True), default=0.5,
                        help="time step, fs (default 0.5)")
    parser.add_argument("--friction", type=cli.number(minimum=0), default=0.01,
                        help="Langevin friction, 1/fs (default 0.01)")
    parser.add_argument("--nve-time-fs", type=cli.number(minimum=0), default=500.0,
                        help="NVE time after Langevin, fs (default 500)")
    parser.add_argument("--seed", type=cli.number(integer=True, minimum=0), default=0)
    parser.add_argument("--write-every", type=cli.number(integer=True, minimum=1), default=20,
                        help="trajectory frame every N steps (default 20)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")

    def body(args):
        args.batch_size = 1
        atoms = load_structure(args.structure, args.frame)      # a bad structure is refused before the compile
        summary = run_md(structure=args.structure, atoms=atoms, frame=args.frame, temperature=args.temperature,
                         time_fs=args.time_fs, dt=args.dt, friction=args.friction, nve_time_fs=args.nve_time_fs,
                         seed=args.seed, out=args.out, write_every=args.write_every,
                         predictor=cli.load_model(args), verbose=not args.quiet,
                         checkpoint=args.checkpoint, model=args.model)
        print(format_summary(summary))
        print(f"wrote {args.out}/langevin.extxyz, nve.extxyz, md_log.csv, md_summary.json")
        return 0 if summary["stable"] else 1

    return cli.run(parser, body, argv)


if __name__ == "__main__":
    sys.exit(main())
