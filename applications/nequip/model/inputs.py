"""The Tensor inputs of the NequIP graphs as one structure — :class:`ModelInputs` (what the model needs) and
:class:`Labels` (what the loss compares it with), built from a padded :class:`~applications.nequip.data.Batch` —
and the names of the error sums the loss returns.

The compiled Cells take these Tensors as flat positional arguments (``model(*inputs)``,
``train_step(*inputs, *labels, decay)``): MindSpore 2.10 cannot differentiate to second order a graph whose
top-level arguments are tuples (the inner gradient comes back as a tuple), and a MindIR file has flat inputs.
Everything on the host side passes the two structures around instead of 17 positional Tensors.

>>> ModelInputs._fields[:3], len(ModelInputs._fields), len(Labels._fields)
(('pos', 'atom_types', 'batch'), 10, 7)
"""
from typing import NamedTuple

__all__ = ["ModelInputs", "Labels", "MODEL_INPUTS", "LABEL_INPUTS", "METRIC_NAMES", "SUM_NAMES", "input_tensors",
           "label_tensors", "batch_inputs"]


class ModelInputs(NamedTuple):
    """Inputs of :class:`~applications.nequip.model.forces.EnergyForceModel` (shapes of a padded batch: ``N``
    atoms, ``E`` edges, ``G`` structures)."""

    pos: object             #: ``[N, 3]`` positions, Å
    atom_types: object      #: int32 ``[N]`` species index
    batch: object           #: int32 ``[N]`` structure of every atom
    atom_mask: object       #: ``[N, 1]`` 1 for real atoms
    edge_src: object        #: int32 ``[E]``
    edge_dst: object        #: int32 ``[E]``
    edge_shift_vec: object  #: ``[E, 3]`` Cartesian periodic shift of every edge, Å
    edge_mask: object       #: ``[E, 1]`` 1 for real edges
    graph_mask: object      #: ``[G]`` 1 for real structures
    volume: object          #: ``[G]`` cell volumes, Å^3 (1 for molecules)


class Labels(NamedTuple):
    """Reference values of a padded batch for :class:`~applications.nequip.model.loss.LossNet` (0 where absent,
    with masks saying where they exist)."""

    n_atoms: object       #: ``[G]`` real atoms per structure
    energy: object        #: ``[G]`` eV
    energy_mask: object   #: ``[G]``
    forces: object        #: ``[N, 3]`` eV/Å
    forces_mask: object   #: ``[N, 1]``
    stress: object        #: ``[G, 3, 3]`` eV/Å^3
    stress_mask: object   #: ``[G]``


#: Names and order of the model inputs and of the labels (flat order of the compiled Cells).
MODEL_INPUTS = ModelInputs._fields
LABEL_INPUTS = Labels._fields

#: Error sums a loss returns per batch (eV, eV/Å, eV/Å^3; sums and counts over the batch).
METRIC_NAMES = ("e_abs", "e_sq", "e_pa_abs", "e_pa_sq", "n_e", "f_abs", "f_sq", "n_f", "s_abs", "s_sq", "n_s")
#: What the train step accumulates on the device: steps, the sum of the step losses, then :data:`METRIC_NAMES`.
SUM_NAMES = ("steps", "loss") + METRIC_NAMES


def _tensors(batch, names, dtype):
    import mindspore as ms

    dtype = ms.float32 if dtype is None else dtype
    arrays = batch.arrays()
    return [ms.Tensor(arrays[k], ms.int32) if arrays[k].dtype.kind in "iu" else ms.Tensor(arrays[k], dtype)
            for k in names]


def input_tensors(batch, dtype=None):
    """:class:`ModelInputs` of a padded batch as MindSpore Tensors (floats in ``dtype``, default float32)."""
    return ModelInputs(*_tensors(batch, MODEL_INPUTS, dtype))


def label_tensors(batch, dtype=None):
    """:class:`Labels` of a padded batch as MindSpore Tensors."""
    return Labels(*_tensors(batch, LABEL_INPUTS, dtype))


def batch_inputs(batch, dtype=None, labels=True):
    """The flat Tensor arguments of the Cells: the :class:`ModelInputs`, followed by the :class:`Labels` fields
    when ``labels`` (the argument order of :class:`~applications.nequip.model.loss.LossNet`)."""
    inputs = input_tensors(batch, dtype)
    return tuple(inputs) + tuple(label_tensors(batch, dtype)) if labels else inputs
