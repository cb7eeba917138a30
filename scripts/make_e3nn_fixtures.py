"""Generate the e3nn 0.6.0 reference fixtures under ``tests/data/``.

Runs in its own virtual environment, never in the project's:

    python3 -m venv /tmp/e3nn-venv
    /tmp/e3nn-venv/bin/pip install torch==2.13.0 e3nn==0.6.0 "numpy<2"
    /tmp/e3nn-venv/bin/python scripts/make_e3nn_fixtures.py            # every group
    /tmp/e3nn-venv/bin/python scripts/make_e3nn_fixtures.py irreps sh  # some groups

Each module in ``scripts/e3nn_fixtures/`` defines ``make(out_dir)`` that writes one or more small
``.npz`` files (float64 values, inputs and gradients). Everything is seeded, so a rerun gives the same files.
"""
import importlib
import os
import pkgutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "tests", "data")


def main(names):
    sys.path.insert(0, HERE)
    torch.set_default_dtype(torch.float64)
    available = sorted(m.name for m in pkgutil.iter_modules([os.path.join(HERE, "e3nn_fixtures")]))
    for name in names or available:
        if name not in available:
            raise SystemExit(f"unknown fixture group {name!r}; available: {available}")
        torch.manual_seed(0)
        module = importlib.import_module(f"e3nn_fixtures.{name}")
        module.make(OUT_DIR)
        print(f"wrote fixtures of group {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
