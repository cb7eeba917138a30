"""ASE calculator for a trained NequIP model (a checkpoint or an exported MindIR model): energy, forces and
(periodic cells) stress.

>>> from ase.io import read                                                     # doctest: +SKIP
>>> from applications.nequip.calculator import NequIPCalculator                 # doctest: +SKIP
>>> atoms = read("aspirin.xyz"); atoms.calc = NequIPCalculator("outputs/nequip/aspirin/best.ckpt")  # doctest: +SKIP
>>> atoms.get_potential_energy(), atoms.get_forces().shape                       # doctest: +SKIP
(-1077.1, (21, 3))
>>> atoms.calc = NequIPCalculator(model="exported/aspirin")     # deploy ... --batch-size 1   # doctest: +SKIP

Each call builds the neighbour list with the model's cutoff and runs one compiled graph (energy and its
gradients) on the structure padded to a ``32 * 2**k`` bucket, so an MD run compiles a few graphs at the start and
then reuses them. Forces are exact gradients of the energy, so NVE dynamics conserves energy up to the
integrator's error.
"""
import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

__all__ = ["NequIPCalculator"]


class NequIPCalculator(Calculator):
    """ASE ``Calculator`` running a NequIP checkpoint or exported model.

    Args:
        checkpoint (str): path to ``best.ckpt`` / ``last.ckpt``; or pass ``model`` or ``predictor``.
        predictor (Predictor, optional): an already loaded :class:`applications.nequip.inference.Predictor`.
        use_ema (bool): use the EMA weights of the checkpoint (default True).
        model (str, optional): an exported model (the folder ``deploy`` wrote; export it with ``--batch-size 1``).
        compute_dtype (str, optional): ``"float16"`` / ``"bfloat16"`` products for a checkpoint (see
            :meth:`~applications.nequip.inference.Predictor.from_checkpoint`); default: the checkpoint's.
        **kwargs: passed to ``ase.calculators.calculator.Calculator``.

    Raises:
        ValueError: bad checkpoint or export; at calculation time, a species the model does not know, or a
            structure that fits no exported bucket.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, checkpoint=None, predictor=None, use_ema=True, model=None, compute_dtype=None, **kwargs):
        super().__init__(**kwargs)
        if predictor is None:
            if checkpoint is None and model is None:
                raise ValueError("NequIPCalculator: give a checkpoint path, an exported model or a Predictor")
            from applications.nequip.inference import load_predictor

            predictor = load_predictor(checkpoint, model, use_ema=use_ema, batch_size=1, compute_dtype=compute_dtype)
        self.predictor = predictor

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from applications.nequip.data import AtomicData

        atoms = self.atoms
        pbc = np.asarray(atoms.pbc, dtype=bool)
        if "stress" in properties and not pbc.any():
            raise PropertyNotImplementedError("NequIPCalculator: stress needs a periodic cell")
        if "stress" in properties and not self.predictor.graphs.has_stress:
            raise PropertyNotImplementedError("NequIPCalculator: this exported model has no stress output "
                                              "(export it with deploy --stress)")
        frame = AtomicData(pos=atoms.get_positions(), atomic_numbers=atoms.get_atomic_numbers(),
                           cell=atoms.cell.array.copy() if pbc.any() else None, pbc=pbc if pbc.any() else None)
        out = self.predictor.predict([frame], stress=bool(pbc.any()) and self.predictor.graphs.has_stress)[0]
        self.results = {"energy": out["energy"], "free_energy": out["energy"], "forces": out["forces"]}
        if "stress" in out:
            s = out["stress"]
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
