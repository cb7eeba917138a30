"""Shared test setup: one kernel thread (the CI machine has 2 shared cores), both execution modes, fixtures."""
import os

os.environ.setdefault("GLOG_v", "3")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import mindspore as ms  # noqa: E402
import pytest  # noqa: E402

ms.set_device("CPU")
try:
    ms.device_context.cpu.op_tuning.threads_num(1)
except Exception:  # pragma: no cover - already set in this process
    pass

DATA_DIR = os.path.join(os.path.dirname(__file__), "data")

MODES = {"graph": ms.GRAPH_MODE, "pynative": ms.PYNATIVE_MODE}


@pytest.fixture(params=["graph", "pynative"])
def mode(request):
    """Run the test once in GRAPH_MODE and once in PYNATIVE_MODE; yields the mode's name."""
    ms.set_context(mode=MODES[request.param])
    yield request.param
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture
def graph_mode():
    """Run the test in GRAPH_MODE (needed for second-order gradients, which PyNative gets wrong)."""
    ms.set_context(mode=ms.GRAPH_MODE)
    yield "graph"
    ms.set_context(mode=ms.PYNATIVE_MODE)


def load_fixture(name):
    """Load ``tests/data/<name>.npz`` (made by ``scripts/make_e3nn_fixtures.py`` from e3nn 0.6.0)."""
    path = os.path.join(DATA_DIR, f"{name}.npz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"missing e3nn fixture {path}; run scripts/make_e3nn_fixtures.py")
    return dict(np.load(path, allow_pickle=False))


@pytest.fixture
def e3nn_fixture():
    """``e3nn_fixture(name)`` -> dict of arrays from ``tests/data/<name>.npz``."""
    return load_fixture
