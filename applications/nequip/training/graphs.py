"""The Cells of a training run: the network and its energy/force wrapper, the loss, the optimizer, the one-Cell
train step, and a second copy of the network for evaluation (it holds the weights that are evaluated, the EMA
ones, and compiles its own graph: MindSpore 2.10 can fail to compile a second graph with another set of gradient
inputs on Cells already compiled in one).
"""
from typing import NamedTuple

__all__ = ["TrainingGraphs", "make_optimizer", "build_training_graphs"]


class TrainingGraphs(NamedTuple):
    """The Cells :func:`build_training_graphs` makes."""

    net: object          #: the NequIP network that is trained
    model: object        #: its energy/forces(/stress) wrapper
    loss: object         #: LossNet
    optimizer: object    #: Adam / AMSGrad (AdamWeightDecay without decay in float64)
    step: object         #: TrainStep (with the data-parallel gradient mean when distributed)
    eval_net: object     #: the network copy that evaluation runs
    eval_model: object   #: its energy/forces(/stress) wrapper


def make_optimizer(params, training, dtype_name):
    """Adam with AMSGrad per ``training``; float64 parameters get ``AdamWeightDecay`` without decay (``nn.Adam``
    has no float64 kernel on CPU, MINDSPORE_NOTES §5)."""
    from mindspore import nn

    t = training
    if dtype_name == "float64":
        return nn.AdamWeightDecay(params, learning_rate=t["learning_rate"], beta1=t["beta1"], beta2=t["beta2"],
                                  eps=t["eps"], weight_decay=0.0)
    return nn.Adam(params, learning_rate=t["learning_rate"], beta1=t["beta1"], beta2=t["beta2"], eps=t["eps"],
                   use_amsgrad=bool(t["amsgrad"]))


def build_training_graphs(cfg, stats, has_stress, distributed):
    """The Cells of a run of ``cfg`` (seeded by ``cfg['seed']``) with the data statistics ``stats``."""
    import numpy as np
    import mindspore as ms

    from applications.nequip.model import LossNet, TrainStep
    from applications.nequip.model.loss import LossScale
    from applications.nequip.model.build import MS_DTYPES, build_model

    m, t, dtype_name = cfg["model"], cfg["training"], cfg["dtype"]
    np.random.seed(cfg["seed"])
    ms.set_seed(cfg["seed"])
    net, model = build_model(m, stats, dtype_name, compute_stress=t["stress_weight"] > 0)
    loss = LossNet(model, t["energy_weight"], t["force_weight"], t["stress_weight"], dtype=MS_DTYPES[dtype_name])
    optimizer = make_optimizer(loss.trainable_params(), t, dtype_name)
    scaling = None
    if m.get("compute_dtype") == "float16":  # float16 gradients under- and overflow: dynamic loss scaling
        scaling = LossScale(init=float(t["loss_scale_init"]), window=int(t["loss_scale_window"]))
    step = TrainStep(loss, distributed.wrap_optimizer(optimizer), ema=bool(t["ema_decay"]), loss_scale=scaling)
    eval_net, eval_model = build_model(m, stats, dtype_name, compute_stress=has_stress)
    return TrainingGraphs(net, model, loss, optimizer, step, eval_net, eval_model)
