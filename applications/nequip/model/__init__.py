"""The NequIP model (Batzner et al. 2022) on mindchemistry_e3: embedding, radial basis, interaction blocks,
the energy model, the energy/force/stress wrapper, the loss and the one-Cell train step.

Examples:
    >>> from applications.nequip.model import NequIP, EnergyForceModel
    >>> model = EnergyForceModel(NequIP(num_types=3, r_max=4.0, l_max=1, num_layers=2, num_features=8))
    >>> model.compute_stress
    False
"""
from .radial import BesselBasis, PolynomialCutoff, RadialEmbedding
from .embedding import SpeciesEmbedding
from .convolution import Convolution
from .interaction import InteractionBlock, ConvLayer, activation, tp_path_exists
from .nequip import NequIP, edge_length_and_direction
from .inputs import ModelInputs, Labels, MODEL_INPUTS, LABEL_INPUTS, batch_inputs, input_tensors, label_tensors
from .forces import EnergyForceModel
from .loss import LossNet, TrainStep, METRIC_NAMES, SUM_NAMES

__all__ = ["BesselBasis", "PolynomialCutoff", "RadialEmbedding", "SpeciesEmbedding", "Convolution",
           "InteractionBlock", "ConvLayer", "activation", "tp_path_exists", "NequIP", "edge_length_and_direction",
           "ModelInputs", "Labels", "MODEL_INPUTS", "LABEL_INPUTS", "batch_inputs", "input_tensors", "label_tensors",
           "EnergyForceModel", "LossNet", "TrainStep", "METRIC_NAMES", "SUM_NAMES"]
