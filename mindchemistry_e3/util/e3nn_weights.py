r"""Load e3nn weights: an e3nn ``state_dict`` saved as numpy arrays (an ``.npz``) into the matching Cell.

The Cells of this library use e3nn's parameter names and layouts (``layers.0.first.sc.weight``, flat tensor-product
weights, ``FullyConnectedNet`` matrices ``[h_in, h_out]``), so an e3nn model's ``state_dict`` maps onto the
equivalent Cell name by name. e3nn also stores buffers that are constants here (``output_mask``, TorchScript
code-generation tables ``_compiled_*``, empty ``weight`` / ``bias`` placeholders, grids such as a voxel
convolution's ``sh``); they are skipped and reported. Everything else must match exactly: a name the Cell does
not have, a Cell parameter the file lacks, or a shape that differs raises a ``ValueError`` naming them.

Write the ``.npz`` where torch is installed with ``scripts/e3nn_state_dict_to_npz.py`` (from a ``.pt`` file or a
live module); it also records which entries are e3nn parameters (key ``__e3nn_parameters__``), so that every
other entry is known to be a buffer. Without that record, entries are taken as buffers only when they look like
one of e3nn's (see :func:`is_e3nn_buffer`). Values are copied into the existing Parameters in place, so a Cell
compiled before (``util.jit.compile``, ``mindspore.jit``) computes with the loaded weights.

>>> import numpy as np
>>> from mindchemistry_e3 import o3
>>> lin = o3.Linear("2x0e", "0e")
>>> report = load_e3nn_state_dict(lin, {"weight": np.array([1.0, 2.0]), "output_mask": np.ones(1)})
>>> report.loaded, report.ignored
(['weight'], ['output_mask'])
"""
import os
from collections import namedtuple

import numpy as np
import mindspore as ms
from mindspore import ops

from .dtype import to_numpy_dtype

__all__ = ["load_e3nn_state_dict", "is_e3nn_buffer", "E3nnLoadReport", "PARAMETERS_KEY"]

#: npz key listing the names of the e3nn parameters (written by ``scripts/e3nn_state_dict_to_npz.py``).
PARAMETERS_KEY = "__e3nn_parameters__"

E3nnLoadReport = namedtuple("E3nnLoadReport", "loaded ignored missing")
E3nnLoadReport.__doc__ = """What :func:`load_e3nn_state_dict` did: the Cell parameters ``loaded``, the e3nn buffers
``ignored`` and (``strict=False`` only) the Cell parameters ``missing`` from the file, as sorted name lists."""

_BUFFER_SUFFIXES = ("output_mask", "running_mean", "running_var")
_BUFFER_LEAVES = ("emb", "sh", "lattice", "kernel")


def is_e3nn_buffer(name, value):
    """Whether an entry of an e3nn ``state_dict`` looks like one of e3nn's buffers (when the file does not list its
    parameters): an ``output_mask``, a code-generation table (``_compiled_``, ``_w3j``), an empty placeholder,
    or a constant grid of e3nn's voxel models (``emb``, ``sh``, ``lattice``, ``kernel``).

    >>> is_e3nn_buffer("layers.0.sc.output_mask", np.ones(3)), is_e3nn_buffer("fc.layer0.weight", np.ones((2, 3)))
    (True, False)
    """
    leaf = name.rsplit(".", 1)[-1]
    return (name.endswith(_BUFFER_SUFFIXES[0]) or "._compiled_" in name or name.startswith("_compiled_")
            or "_w3j" in leaf or np.size(value) == 0 or leaf in _BUFFER_LEAVES)


def _read(state_dict):
    if isinstance(state_dict, (str, os.PathLike)):
        with np.load(state_dict, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    return {k: (v.asnumpy() if isinstance(v, ms.Tensor) else np.asarray(v)) for k, v in state_dict.items()}


def load_e3nn_state_dict(cell, state_dict, strict=True):
    r"""Load an e3nn ``state_dict`` into ``cell`` by parameter name (see the module doc).

    Args:
        cell (nn.Cell): the MindSpore counterpart of the e3nn module (same constructor arguments).
        state_dict (str, os.PathLike or dict): an ``.npz`` path or a dict name -> array (numpy arrays or Tensors),
            e.g. ``np.load(path)``.
        strict (bool): refuse Cell parameters the file lacks (default True); with False they keep their values
            and are reported as ``missing``.

    Returns:
        :class:`E3nnLoadReport`.

    Raises:
        ValueError: an entry that is neither a Cell parameter nor an e3nn buffer, a shape that differs, or (strict)
            a Cell parameter the file lacks -- all offending names are listed. Nothing is loaded then.

    Examples:
        >>> import numpy as np
        >>> from mindchemistry_e3 import o3
        >>> load_e3nn_state_dict(o3.Linear("2x0e", "0e"), {"weight": np.ones(3)})
        Traceback (most recent call last):
        ...
        ValueError: e3nn state_dict does not match Linear: shape of weight: file (3,), Cell (2,)
    """
    entries = _read(state_dict)
    declared = entries.pop(PARAMETERS_KEY, None)
    declared = None if declared is None else {str(n) for n in np.atleast_1d(declared)}
    params = dict(cell.parameters_and_names())
    problems, ignored, loads = [], [], []
    for name, value in entries.items():
        if name in params:
            if tuple(value.shape) != tuple(params[name].shape):
                problems.append(f"shape of {name}: file {tuple(value.shape)}, Cell {tuple(params[name].shape)}")
            else:
                loads.append(name)
        elif (name not in declared) if declared is not None else is_e3nn_buffer(name, value):
            ignored.append(name)
        else:
            problems.append(f"{name} (shape {tuple(value.shape)}) is not a parameter of the Cell")
    missing = sorted(set(params) - set(entries))
    if declared is not None:
        absent = sorted(declared - set(entries))
        problems.extend(f"{name} is listed as an e3nn parameter but has no array" for name in absent)
    if strict and missing:
        problems.append(f"Cell parameters missing from the file: {missing}")
    if problems:
        raise ValueError(f"e3nn state_dict does not match {type(cell).__name__}: " + "; ".join(problems))
    for name in loads:  # in place: a Cell already compiled with mindspore.jit sees it (set_data would not be seen)
        param = params[name]
        ops.assign(param, ms.Tensor(entries[name].astype(to_numpy_dtype(param.dtype)), param.dtype))
    return E3nnLoadReport(sorted(loads), sorted(ignored), missing)
