"""Write an e3nn model's weights as an ``.npz`` for ``mindchemistry_e3.util.e3nn_weights.load_e3nn_state_dict``.

Run where torch (and e3nn, for pickled modules) is installed -- never needed by mindchemistry_e3 itself:

    python scripts/e3nn_state_dict_to_npz.py model.pt weights.npz

``model.pt`` is a ``state_dict`` (``torch.save(model.state_dict(), ...)``), a pickled module (``torch.save(model,
...)``) or a TorchScript file. From Python, with a live module: ``export(model, "weights.npz")``.

Every entry of the ``state_dict`` is written as a numpy array under its e3nn name; for a module, the names of its
parameters are recorded under ``__e3nn_parameters__`` so that the loader can tell e3nn's buffers from unknown
names exactly.
"""
import argparse

import numpy as np
import torch

PARAMETERS_KEY = "__e3nn_parameters__"


def export(module_or_state_dict, path):
    """Save the weights of an e3nn module (or a ``state_dict``) to ``path`` (``.npz``); returns the dict saved."""
    if isinstance(module_or_state_dict, torch.nn.Module):
        state = module_or_state_dict.state_dict()
        names = [name for name, _ in module_or_state_dict.named_parameters()]
    else:
        state, names = module_or_state_dict, None
    arrays = {name: value.detach().cpu().numpy() for name, value in state.items()}
    if names is not None:
        arrays[PARAMETERS_KEY] = np.array(names, dtype=str)
    np.savez(path, **arrays)
    return arrays


def _load(path):
    try:
        return torch.jit.load(path, map_location="cpu")
    except RuntimeError:
        return torch.load(path, map_location="cpu", weights_only=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .pt file: state_dict, pickled module or TorchScript module")
    parser.add_argument("out", help="the .npz to write")
    args = parser.parse_args(argv)
    saved = export(_load(args.model), args.out)
    print(f"wrote {len(saved)} entries to {args.out}")


if __name__ == "__main__":
    main()
