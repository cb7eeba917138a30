r"""Energy, forces and stress from an energy model, by automatic differentiation inside the compiled graph.

.. math::
    \vec F_i = -\frac{\partial E}{\partial \vec r_i}, \qquad
    \sigma = \frac{1}{V} \frac{\partial E}{\partial \varepsilon}\Big|_{\varepsilon = 0}

The stress (ASE's sign convention, positive = tensile) is the derivative with respect to a homogeneous strain
:math:`\varepsilon` applied to positions and cell alike, so every edge vector becomes
:math:`\vec r_{ij} (1 + \varepsilon)`; the strain is a zero ``[B, 3, 3]`` input of the differentiated function,
one per structure. Forces are conservative by construction (a gradient of the energy), and the gradients are
taken inside ``construct``, so a training loss built on them is differentiated to second order in the same
graph (GRAPH_MODE only: PyNative higher-order gradients are silently wrong in MindSpore 2.10).

Inputs are the fields of :class:`~applications.nequip.model.inputs.ModelInputs`, flat (``model(*inputs)``; all
static shapes, padded).
"""
import mindspore as ms
from mindspore import nn, ops

from mindchemistry_e3.util.graph import gather_rows

from .inputs import MODEL_INPUTS

__all__ = ["EnergyForceModel", "MODEL_INPUTS"]


class _StrainedEnergy(nn.Cell):
    """Energy ``[B]`` of every structure as a function of positions and a (zero) strain per structure."""

    def __init__(self, model, compute_stress):
        super().__init__()
        self.model = model
        self.compute_stress = compute_stress
        self.bmm = ops.BatchMatMul()

    def construct(self, pos, strain, atom_types, batch, atom_mask, edge_src, edge_dst, edge_shift_vec, edge_mask,
                  graph_mask):
        vec = gather_rows(pos, edge_dst) - gather_rows(pos, edge_src) + edge_shift_vec
        if self.compute_stress:
            eps = gather_rows(strain, ops.gather(batch, edge_src, 0))              # [E, 3, 3]
            vec = vec + self.bmm(vec.reshape((-1, 1, 3)), eps).reshape((-1, 3))
        return self.model(vec, atom_types, edge_src, edge_dst, edge_mask, atom_mask, batch, graph_mask)


class EnergyForceModel(nn.Cell):
    r"""Wraps an energy model into energy, forces (and stress) of padded batches.

    Args:
        model (nn.Cell): energy model with the signature of :class:`~applications.nequip.model.nequip.NequIP`.
        compute_stress (bool): also return the stress (periodic structures). Default False.

    Inputs:
        - **pos** (Tensor) - ``[N, 3]`` positions (Å).
        - **atom_types** (Tensor) - int32 ``[N]`` species index.
        - **batch** (Tensor) - int32 ``[N]``.
        - **atom_mask** (Tensor) - ``[N, 1]``.
        - **edge_src**, **edge_dst** (Tensor) - int32 ``[E]``.
        - **edge_shift_vec** (Tensor) - ``[E, 3]`` Cartesian periodic shift of every edge (``shift @ cell``, Å).
        - **edge_mask** (Tensor) - ``[E, 1]``.
        - **graph_mask** (Tensor) - ``[B]``.
        - **volume** (Tensor) - ``[B]`` cell volumes (Å^3; 1 for molecules; used only for the stress).

    Outputs:
        Tuple ``(energy [B], forces [N, 3])``, plus ``stress [B, 3, 3]`` when ``compute_stress``.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> from applications.nequip.model import NequIP
        >>> wrapped = EnergyForceModel(NequIP(2, num_layers=1, num_features=4))
        >>> wrapped.compute_stress
        False
    """

    def __init__(self, model, compute_stress=False):
        super().__init__()
        self.model = model
        self.compute_stress = bool(compute_stress)
        self.energy_fn = _StrainedEnergy(model, self.compute_stress)
        grad_position = (0, 1) if self.compute_stress else 0
        # value_and_grad of the [B] energies: the value stays differentiable (has_aux would stop its gradient, so
        # an energy term in a loss would lose its weight gradient); the gradient is that of the sum (sens = 1).
        self.value_and_grad = ms.value_and_grad(self.energy_fn, grad_position=grad_position)

    def construct(self, pos, atom_types, batch, atom_mask, edge_src, edge_dst, edge_shift_vec, edge_mask, graph_mask,
                  volume):
        # The zero strain must depend on an input: a Tensor built from constants alone is folded into the graph
        # and its gradient silently dropped (MindSpore 2.10 returns only the position gradient).
        strain = ops.zeros((graph_mask.shape[0], 3, 3), pos.dtype) + (volume * 0).reshape((-1, 1, 1))
        energy, grads = self.value_and_grad(pos, strain, atom_types, batch, atom_mask, edge_src, edge_dst,
                                            edge_shift_vec, edge_mask, graph_mask)
        if self.compute_stress:
            forces = -grads[0]
            stress = grads[1] / volume.reshape((-1, 1, 1))
            return energy, forces, stress
        forces = -grads
        return energy, forces
