r"""Loss and the one-Cell train step (forward, forces, loss, backward, optimizer, EMA) of the NequIP application.

Loss of a padded batch (only real structures / atoms count, so padding does not change it):

.. math::
    L = w_E \frac{1}{n_E}\sum_g \Big(\frac{E_g - E^{ref}_g}{N_g}\Big)^2
      + w_F \frac{1}{3 n_F}\sum_{i} |\vec F_i - \vec F^{ref}_i|^2
      + w_\sigma \frac{1}{9 n_\sigma}\sum_g \|\sigma_g - \sigma^{ref}_g\|^2

(per-atom energy error, as NequIP's ``PerAtomMSELoss``; forces by components). The forces inside the loss are
gradients of the energy, so the weight gradient is a second-order derivative: the train step is one
``nn.Cell`` compiled in GRAPH_MODE (PyNative second-order gradients are silently wrong in MindSpore 2.10).

The step also updates an exponential moving average of the weights,
:math:`\bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta` of the optimizer's result, in the same graph (the decay
:math:`d` is an input, so NequIP's warm-up ``min(decay, (1+n)/(10+n))`` needs no recompile), and adds the step
count, the loss and the error sums (not differentiated) to a device-side accumulator, :attr:`TrainStep.sums`
(named by :data:`SUM_NAMES`): the training loop reads it back at log intervals and at the end of an epoch instead
of after every step, so the host never waits on the device inside an epoch. The moving average is kept as one flat
vector (:attr:`TrainStep.ema`, the weights' entries in order) and updated as
:math:`\bar\theta \mathrel{+}= (1 - d)(\theta - \bar\theta)`: four kernels for all weights, not four per weight.
The update of a step is applied in the next one, before that step's optimizer, from the weights it has read
anyway (the decay waits in :attr:`TrainStep.ema_pending`): reading the weights again after the optimizer's in-place
update would make MindSpore copy every weight twice per step (44 ``TensorMove`` kernels in the NequIP train step).
:meth:`TrainStep.ema_arrays` applies a pending update on the host and gives the average weight by weight;
:meth:`TrainStep.set_ema_arrays` sets it.

A float16 model (``compute_dtype=float16``: float16 MatMul operands, whose gradients underflow below 6e-8 and
overflow above 65,504) trains with dynamic loss scaling inside the same Cell: the loss is multiplied by
:attr:`TrainStep.loss_scale` before the (second-order) backward pass, the gradients are divided by it, and a step
whose gradients are not all finite (``mindspore.amp.all_finite``) is skipped -- no optimizer update, no metric
sums -- and halves the scale; ``window`` finite steps in a row double it (the rule of
``mindspore.amp.DynamicLossScaler``, kept in Parameters of the step so that it compiles into the graph and is
saved with the optimizer state). :attr:`TrainStep.skipped_steps` counts the skipped steps.
"""
from typing import NamedTuple

import numpy as np
import mindspore as ms
from mindspore import amp, nn, ops

from mindchemistry_e3.util.dtype import constant

from .inputs import LABEL_INPUTS, METRIC_NAMES, MODEL_INPUTS, SUM_NAMES

__all__ = ["LossNet", "TrainStep", "LossScale", "LABEL_INPUTS", "METRIC_NAMES", "SUM_NAMES"]

_NUM_MODEL_INPUTS = len(MODEL_INPUTS)


class LossNet(nn.Cell):
    r"""Weighted energy / force / stress loss of an :class:`~applications.nequip.model.forces.EnergyForceModel`.

    Args:
        model (EnergyForceModel): the wrapped model (``compute_stress`` must be True when ``stress_weight > 0``).
        energy_weight (float): weight of the per-atom energy MSE.
        force_weight (float): weight of the force MSE.
        stress_weight (float): weight of the stress MSE. Default 0.
        dtype (mindspore.dtype): float dtype. Default ``mindspore.float32``.

    Inputs:
        The fields of :class:`~applications.nequip.model.inputs.ModelInputs`, then those of
        :class:`~applications.nequip.model.inputs.Labels` (flat: ``loss(*inputs, *labels)``).

    Outputs:
        Tuple ``(loss, errors)``: the scalar loss and a vector of error sums named by :data:`METRIC_NAMES`.

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> from applications.nequip.model import NequIP, EnergyForceModel
        >>> loss = LossNet(EnergyForceModel(NequIP(1, num_layers=1, num_features=4)), 1.0, 1.0)
        >>> loss.force_weight
        1.0
    """

    def __init__(self, model, energy_weight=1.0, force_weight=1.0, stress_weight=0.0, *, dtype=ms.float32):
        super().__init__()
        if stress_weight > 0 and not model.compute_stress:
            raise ValueError("LossNet: stress_weight > 0 needs EnergyForceModel(compute_stress=True)")
        self.model = model
        self.energy_weight, self.force_weight, self.stress_weight = (float(energy_weight), float(force_weight),
                                                                     float(stress_weight))
        self.use_stress = model.compute_stress and self.stress_weight > 0
        self.w_e = constant(self.energy_weight, dtype)
        self.w_f = constant(self.force_weight, dtype)
        self.w_s = constant(self.stress_weight, dtype)
        self.one = constant(1.0, dtype)

    def construct(self, *tensors):
        out = self.model(*tensors[:_NUM_MODEL_INPUTS])
        n_atoms, energy, energy_mask, forces, forces_mask, stress, stress_mask = tensors[_NUM_MODEL_INPUTS:]
        one = self.one
        de = (out[0] - energy) * energy_mask
        de_pa = de / ops.maximum(n_atoms, one)
        n_e = energy_mask.sum()
        df = (out[1] - forces) * forces_mask
        n_f = forces_mask.sum() * 3
        loss_e = (de_pa * de_pa).sum() / ops.maximum(n_e, one)
        loss_f = (df * df).sum() / ops.maximum(n_f, one)
        loss = self.w_e * loss_e + self.w_f * loss_f
        zero = ops.zeros_like(n_e)
        s_abs, s_sq, n_s = zero, zero, zero
        if self.use_stress:
            ds = (out[2] - stress) * stress_mask.reshape((-1, 1, 1))
            n_s = stress_mask.sum() * 9
            s_sq = (ds * ds).sum()
            s_abs = ops.abs(ds).sum()
            loss = loss + self.w_s * s_sq / ops.maximum(n_s, one)
        errors = ops.stack([ops.abs(de).sum(), (de * de).sum(), ops.abs(de_pa).sum(), (de_pa * de_pa).sum(), n_e,
                            ops.abs(df).sum(), (df * df).sum(), n_f, s_abs, s_sq, n_s])
        return loss, errors


class LossScale(NamedTuple):
    """Dynamic loss scaling of a float16 train step (``mindspore.amp.DynamicLossScaler``'s rule)."""

    init: float = 4096.0  #: the first scale
    factor: float = 2.0   #: divide by it after an overflow, multiply by it after ``window`` finite steps
    window: int = 500     #: finite steps in a row before the scale grows


class _ScaledLoss(nn.Cell):
    """``(loss * scale, errors)`` of a :class:`LossNet`; the scale is the last input."""

    def __init__(self, loss_net):
        super().__init__(auto_prefix=False)
        self.loss_net = loss_net

    def construct(self, *tensors):
        loss, errors = self.loss_net(*tensors[:-1])
        return loss * tensors[-1], errors


class TrainStep(nn.Cell):
    r"""One optimisation step as a single Cell: loss and forces, weight gradients (second order), optimizer, EMA,
    and the metric sums accumulated on the device.

    Args:
        loss_net (LossNet): the loss.
        optimizer (nn.Optimizer): e.g. ``nn.Adam(params, use_amsgrad=True)``; its ``parameters`` are trained.
        ema (bool): keep an exponential moving average of the trained parameters (:attr:`ema`, flat; weight by
            weight with :meth:`ema_arrays`).
        loss_scale (LossScale, optional): dynamic loss scaling (for float16 compute; see the module doc).
            Default None: none.

    Inputs:
        The inputs of :class:`LossNet` (``*inputs, *labels``), then **decay** (scalar Tensor): the EMA decay of
        this step.

    Outputs:
        Tuple ``(loss, errors)`` of :class:`LossNet` (before the update). The same step also adds
        ``(1, loss, *errors)`` to :attr:`sums` (a non-trainable Parameter named by :data:`SUM_NAMES`; read it and
        reset it with :meth:`reset_sums`).

    Supported Platforms:
        ``Ascend`` ``CPU``

    Examples:
        >>> from mindspore import nn
        >>> from applications.nequip.model import NequIP, EnergyForceModel
        >>> loss = LossNet(EnergyForceModel(NequIP(1, num_layers=1, num_features=4)), 1.0, 1.0)
        >>> step = TrainStep(loss, nn.Adam(loss.trainable_params(), 1e-3))
        >>> len(step.ema_arrays()) == len(loss.trainable_params()), step.sums.shape
        (True, (13,))
    """

    def __init__(self, loss_net, optimizer, ema=True, loss_scale=None):
        super().__init__(auto_prefix=False)
        self.loss_net = loss_net
        self.optimizer = optimizer
        self.weights = optimizer.parameters
        self.use_ema = bool(ema)
        self._shapes = [tuple(w.shape) for w in self.weights]
        self._splits = np.cumsum([int(np.prod(shape)) for shape in self._shapes])[:-1]
        self.ema = None
        dtype = self.weights[0].dtype
        if self.use_ema:
            self.ema = ms.Parameter(ms.Tensor(np.concatenate([w.asnumpy().reshape(-1) for w in self.weights])),
                                    name="ema", requires_grad=False)
            self.ema_pending = ms.Parameter(constant(1.0, dtype), name="ema_pending", requires_grad=False)
        self.scaled = loss_scale is not None
        if self.scaled:
            self.loss_scale = ms.Parameter(constant(float(loss_scale.init), dtype), name="loss_scale",
                                           requires_grad=False)
            self.skipped_steps = ms.Parameter(ms.Tensor(0, ms.int32), name="skipped_steps", requires_grad=False)
            self.scale_counter = ms.Parameter(ms.Tensor(0, ms.int32), name="loss_scale_counter", requires_grad=False)
            self.scale_factor = constant(float(loss_scale.factor), dtype)
            self.scale_window = int(loss_scale.window)
            self.grad_fn = ms.value_and_grad(_ScaledLoss(loss_net), grad_position=None, weights=self.weights,
                                             has_aux=True)
        else:
            self.grad_fn = ms.value_and_grad(loss_net, grad_position=None, weights=self.weights, has_aux=True)
        self.sums = ms.Parameter(ops.zeros(len(SUM_NAMES), dtype), name="metric_sums", requires_grad=False)
        self.one = constant([1.0], dtype)

    def ema_arrays(self):
        """The moving average weight by weight (numpy arrays in the order and shapes of the trained weights), the
        last step's update included."""
        flat = self.ema.asnumpy()
        weights = np.concatenate([w.asnumpy().reshape(-1) for w in self.weights])
        flat = flat + (weights - flat) * (1 - self.ema_pending.asnumpy())
        return [part.reshape(shape) for part, shape in zip(np.split(flat, self._splits), self._shapes)]

    def ema_parameters(self):
        """The Parameters behind the moving average (saved through :meth:`ema_arrays`, not as such)."""
        return (self.ema, self.ema_pending) if self.use_ema else ()

    def set_ema_arrays(self, arrays):
        """Set the moving average from one array per trained weight (host side, between steps)."""
        if [tuple(np.shape(a)) for a in arrays] != self._shapes:
            raise ValueError(f"TrainStep.set_ema_arrays: shapes {[np.shape(a) for a in arrays]}, expected "
                             f"{self._shapes}")
        flat = np.concatenate([np.asarray(a).reshape(-1) for a in arrays])
        self.ema.set_data(ms.Tensor(flat, self.ema.dtype))
        self.ema_pending.set_data(constant(1.0, self.ema_pending.dtype))

    def _apply_pending_ema(self):
        """The previous step's update, ``ema += (1 - pending) (weights - ema)``, from the weights before this
        step's optimizer (the previous step's result)."""
        flat = ()
        for p in self.weights:
            flat = flat + (p.reshape((-1,)),)
        return ops.assign_add(self.ema, (ops.concat(flat) - self.ema) * (1 - self.ema_pending))

    def reset_sums(self):
        """Zero :attr:`sums` (host side, between steps)."""
        self.sums.set_data(ops.zeros(self.sums.shape, self.sums.dtype))

    def construct(self, *tensors):
        decay = tensors[-1]
        if self.scaled:
            return self._scaled_step(tensors[:-1], decay)
        (loss, errors), grads = self.grad_fn(*tensors[:-1])
        if self.use_ema:  # after the forward has read the weights, before the optimizer writes them
            grads = ops.depend(grads, self._apply_pending_ema())
        self.optimizer(grads)
        if self.use_ema:
            ops.assign(self.ema_pending, decay)
        ops.assign_add(self.sums, ops.concat((self.one, loss.reshape((1,)), errors)))
        return loss, errors

    def _scaled_step(self, tensors, decay):
        """The step with dynamic loss scaling: skipped (no update, no sums) when a gradient is not finite."""
        scale = self.loss_scale * self.one[0]
        (loss, errors), grads = self.grad_fn(*tensors, scale)
        if self.use_ema:
            grads = ops.depend(grads, self._apply_pending_ema())
        inv = self.one[0] / scale
        grads = tuple(g * inv for g in grads)
        loss = loss * inv
        finite = amp.all_finite(grads)
        if finite:
            loss = ops.depend(loss, self.optimizer(grads))
        if self.use_ema:  # a skipped step leaves no update pending
            ops.assign(self.ema_pending, ops.where(finite, decay, ops.ones_like(decay)))
        step_sums = ops.concat((self.one, loss.reshape((1,)), errors))
        ops.assign_add(self.sums, ops.where(finite, step_sums, ops.zeros_like(step_sums)))
        self._adjust_scale(finite)
        return loss, errors

    def _adjust_scale(self, finite):
        """``mindspore.amp.DynamicLossScaler``'s update: after ``window`` finite steps in a row the scale grows by
        ``factor`` (while finite), after an overflow it shrinks by ``factor`` (not below 1); skipped steps count."""
        scale = self.loss_scale
        counter = self.scale_counter
        grown = scale * self.scale_factor
        full = counter == (self.scale_window - 1)
        up = ops.where(ops.logical_and(full, ops.isfinite(grown)), grown, scale)
        down = ops.maximum(scale / self.scale_factor, ops.ones_like(scale))
        ops.assign(self.loss_scale, ops.where(finite, up, down))
        ops.assign(self.scale_counter, ops.where(finite, (counter + 1) % self.scale_window, ops.zeros_like(counter)))
        ops.assign_add(self.skipped_steps, ops.where(finite, ops.zeros_like(counter), ops.ones_like(counter)))
