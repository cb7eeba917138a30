"""Which primitives of our compiled graphs have an Ascend kernel in the installed MindSpore?

Compiles, on CPU, a representative instance of every public Cell of ``mindchemistry_e3`` (``o3``, ``nn``,
``math``; float32, forward and forward+backward) and the NequIP train step and energy+forces graphs (built as
``applications/nequip/benchmark.py`` does, from ``applications/nequip/configs/tiny.yaml`` by default), reads the
primitives of each compiled graph from MindSpore's IR dump, and looks every primitive up in the Ascend plugin
libraries of the installed MindSpore wheel. Prints the table, writes it as Markdown or JSON (``--out``), and
exits with status 1 when a primitive has neither an aclnn kernel nor a GE op adapter.

Usage (repository root)::

    python scripts/check_ascend_ops.py                              # every Cell + NequIP graphs (~2-4 min)
    python scripts/check_ascend_ops.py --cells o3.Linear,nn.Gate --no-nequip
    python scripts/check_ascend_ops.py --out benchmarks/ascend_ops.md   # or .json

How a primitive is matched (MindSpore 2.10; the rule is also printed by ``--explain``)
---------------------------------------------------------------------------------------

The graphs are read at the end of the frontend (the ``validate`` IR, ``MS_DEV_SAVE_GRAPHS=1`` with
``MS_DEV_DUMP_IR_PASSES=validate`` into a temporary folder): that graph is device independent and is what the
Ascend backend selects kernels for. (The CPU backend afterwards rewrites some nodes for its own kernels --
``SplitWithSize`` into ``Slice``, ``SiLU`` into ``Sigmoid`` and ``Mul``, ``SumExt`` into ``ReduceSum`` -- so
its kernel graph is not what Ascend sees.)

On Ascend, MindSpore's kernel-by-kernel backend (``jit_level`` O0/O1) picks, per node, in this order: an
**aclnn** kernel registered under the primitive's name; else an **ACL op** built through the primitive's
**GE op adapter** (run by CANN as an AI Core or **AICPU** kernel); else a host kernel; else it falls back to
the CPU kernel or fails. The whole-graph GE backend needs a GE adapter for every node. Evidence, all read
from the installed wheel (``mindspore/lib/plugin``), no Ascend software needed:

* **aclnn** -- ``libmindspore_ops_ascend.so``. Auto-generated kernels register with
  ``MS_ACLNN_COMMON_KERNEL_FACTORY_REG(P, aclnnX, N)``, which defines the class ``AclnnPKernelMod<N>``: its
  RTTI name ``...AclnnPKernelModILmNEEE`` names the primitive exactly. Hand-written kernels register with
  ``MS_ACLNN_KERNEL_FACTORY_REG(P, Class)``; the class is ``PAscend`` (or ``PAclnnKernelMod``,
  ``PAscendKernelMod``, ``PAscendCall``) by convention, and three classes abbreviate
  (``BMM`` = BatchMatMul, ``BMMExt`` = BatchMatMulExt, ``MMExt`` = MatMulExt). The PyNative kernel class
  ``pyboost::PAscend`` also counts: MindSpore refuses to compile a node whose op definition enables Ascend
  dispatch without a graph aclnn kernel ("enabled dispatch in yaml, but not registered an aclnn kernelmod").
  Names are compared case-insensitively (``Col2imExt`` is ``Col2ImExt``).
* **GE adapter** -- ``libmindspore_ascend_res_manager.so`` holds one ``OpAdapter<ge::op::G>`` per GE op type
  G. An adapter is registered under the MindSpore primitive name, and G is either that name or the name with
  a ``D`` / ``V2`` / ``V3`` suffix (``Gather`` -> ``GatherV2``, ``MatMul`` -> ``MatMulV2``), except for the
  renamed ops of ``GE_RENAMES`` (``Stack`` -> ``Pack``, ``Unstack`` -> ``Unpack``, ...).
* **AICPU** (information) -- the AICPU op registrations shipped in ``mindspore/ops/_op_impl/aicpu``.
* **internal** (information) -- ``libmindspore_internal_kernels.so`` (``InternalP`` classes; used by
  MindSpore's inference fast paths only).

Nodes that never become kernels (``MakeTuple``, ``TupleGetItem``, ``Depend``, ``UpdateState``, ``Load``,
``Return``, ...) are listed as *virtual*, shape-only nodes the backend turns into views (``Reshape``,
``ExpandDims``, ``Squeeze``, ``Flatten``) as *nop*. Verdict per primitive: ``aclnn``, ``GE`` (no aclnn kernel:
an ACL op built through the GE adapter, run on AI Core or, where CANN has only that, AICPU), ``nop``,
``virtual``, or ``MISSING`` (neither aclnn kernel nor GE adapter: exit status 1).

This tells whether a kernel exists, not whether it accepts our dtypes and shapes, nor how fast it is;
nothing here was run on an Ascend device.
"""
import argparse
import glob
import json
import os
import re
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_NEQUIP_CONFIG = os.path.join(REPO, "applications", "nequip", "configs", "tiny.yaml")

VIRTUAL = frozenset({
    "MakeTuple", "TupleGetItem", "make_list", "MakeList", "list_getitem", "ListGetItem", "make_dict",
    "MakeDict", "Depend", "UpdateState", "Load", "Return", "Partial", "Switch", "SwitchLayer",
    "StopGradient", "stop_gradient", "J", "shape", "Shape", "TupleToTensor", "ScalarToTensor",
})
# Shape-only nodes the Ascend backend does not launch (MindSpore's nop-node elimination): memory views.
NOP = frozenset({"Reshape", "ExpandDims", "Squeeze", "Flatten"})
# Primitives whose GE op type is not the primitive name (+ D / V2 / V3).
GE_RENAMES = {"Stack": ("Pack",), "Unstack": ("Unpack",), "SumExt": ("ReduceSum",), "SplitWithSize": ("SplitV",),
              "ZerosLikeExt": ("ZerosLike",), "GreaterEqualScalar": ("GreaterEqual",), "Muls": ("Muls",)}
ACLNN_CLASS_ALIASES = {"bmm": "batchmatmul", "bmmext": "batchmatmulext", "mmext": "matmulext"}
_GE_SUFFIXES = ("", "D", "V2", "V3")

IR_NODE = re.compile(r"^\s+%\d+\([^)]*\) = ([A-Za-z_][\w.]*)\(", re.M)


# ================================================================================================ kernel tables
def _plugin_dir():
    import importlib.util

    spec = importlib.util.find_spec("mindspore")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("check_ascend_ops: mindspore is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "lib", "plugin")


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def _names(pattern, data, group=1):
    return {m.group(group).decode() for m in re.finditer(pattern, data)}


def ascend_kernels(plugin_dir=None):
    """The Ascend kernel names the installed MindSpore ships, read from its plugin libraries.

    Returns a dict of lower-cased primitive name -> evidence string for ``aclnn``, the set of GE op types with
    an adapter (``ge``), and the AICPU (``aicpu``) and internal-kernel (``internal``) name sets (lower case).
    """
    plugin_dir = plugin_dir or _plugin_dir()
    ops_so = os.path.join(plugin_dir, "libmindspore_ops_ascend.so")
    ge_so = os.path.join(plugin_dir, "ascend", "libmindspore_ascend_res_manager.so")
    internal_so = os.path.join(plugin_dir, "ascend", "libmindspore_internal_kernels.so")
    for path in (ops_so, ge_so):
        if not os.path.exists(path):
            raise SystemExit(f"check_ascend_ops: {path} not found: this MindSpore wheel ships no Ascend plugin")
    data = _read(ops_so)
    aclnn = {}
    for name in _names(rb"N9mindspore6kernel7pyboost\d+(\w+?)AscendE", data):
        aclnn.setdefault(name.lower(), f"pyboost::{name}Ascend")
    custom = rb"N9mindspore6kernel(?:\d+[a-z][a-z0-9_]*)?\d+(\w+?)(AclnnKernelMod|AscendKernelMod|AscendCall|Ascend)E"
    for m in re.finditer(custom, data):
        if m.group(0).startswith(b"N9mindspore6kernel7pyboost"):
            continue
        name = m.group(1).decode()
        key = ACLNN_CLASS_ALIASES.get(name.lower(), name.lower())
        aclnn[key] = f"kbk:{name}{m.group(2).decode()}"
    for name in _names(rb"N9mindspore6kernel\d+Aclnn(\w+?)KernelModILm\d+EEE", data):
        aclnn[name.lower()] = f"kbk:Aclnn{name}KernelMod"
    del data
    ge = _names(rb"N9mindspore6device6ascend9OpAdapterIN(?:S1_|2ge2op)\d+(?:cz)?(\w+?)EEE\x00", _read(ge_so))
    internal = set()
    if os.path.exists(internal_so):
        internal = {n.lower() for n in _names(rb"N9mindspore6kernel\d+Internal(\w+?)E", _read(internal_so))}
    aicpu = set()
    for path in glob.glob(os.path.join(os.path.dirname(os.path.dirname(plugin_dir)), "ops", "_op_impl", "aicpu",
                                       "*.py")):
        with open(path, encoding="utf-8") as fh:
            aicpu |= {n.lower() for n in re.findall(r'AiCPURegOp\("(\w+)"\)', fh.read())}
    return {"aclnn": aclnn, "ge": ge, "aicpu": aicpu, "internal": internal}


def classify(prim, kernels):
    """Row of the table for primitive ``prim``: evidence per route and the verdict."""
    low = prim.lower()
    aclnn = kernels["aclnn"].get(low)
    candidates = GE_RENAMES.get(prim, ()) + tuple(prim + s for s in _GE_SUFFIXES)
    ge = next((g for g in candidates if g in kernels["ge"]), None)
    if prim in VIRTUAL:
        verdict = "virtual"
    elif aclnn:
        verdict = "aclnn"
    elif prim in NOP:
        verdict = "nop"
    elif ge:
        verdict = "GE"
    else:
        verdict = "MISSING"
    return {"primitive": prim, "aclnn": aclnn, "ge_adapter": ge, "aicpu": low in kernels["aicpu"],
            "internal": low in kernels["internal"], "verdict": verdict}


# ================================================================================================ graphs
def primitives_in_ir(text):
    """Primitive names of the CNodes of an IR dump (``PrimFunc_X`` -> ``X``); calls of sub-graphs excluded."""
    names = set()
    for op in IR_NODE.findall(text):
        if op.startswith("PrimFunc_"):
            op = op[len("PrimFunc_"):]
        elif op.startswith("S_Prim_"):
            op = op[len("S_Prim_"):]
        names.add(op)
    return names


class _Dumped:
    """Context: the IR dumps of the graphs compiled inside go to a fresh folder; ``primitives`` reads them.

    MindSpore 2.10 reads ``MS_DEV_SAVE_GRAPHS`` once, at the first graph compile of a process (setting it, or
    ``set_context(save_graphs=...)``, later has no effect), but reads ``MS_DEV_SAVE_GRAPHS_PATH`` at every
    compile: ``enable_ir_dump`` must run before the process compiles its first graph.
    """

    def __init__(self, root, label):
        self.path = os.path.join(root, re.sub(r"\W+", "_", label))

    def __enter__(self):
        os.makedirs(self.path, exist_ok=True)
        self._old = os.environ.get("MS_DEV_SAVE_GRAPHS_PATH")
        os.environ["MS_DEV_SAVE_GRAPHS_PATH"] = self.path
        return self

    def __exit__(self, *exc):
        if self._old is None:
            os.environ.pop("MS_DEV_SAVE_GRAPHS_PATH", None)
        else:
            os.environ["MS_DEV_SAVE_GRAPHS_PATH"] = self._old
        return False

    def primitives(self):
        files = glob.glob(os.path.join(self.path, "**", "*validate*.ir"), recursive=True)
        names = set()
        for path in files:
            with open(path, encoding="utf-8", errors="replace") as fh:
                names |= primitives_in_ir(fh.read())
        return names, len(files)


def enable_ir_dump():
    """Dump the frontend's final (``validate``) IR of every graph compiled from now on (see ``_Dumped``)."""
    os.environ.update(MS_DEV_SAVE_GRAPHS="1", MS_DEV_DUMP_IR_PASSES="validate")
    # graphs compiled outside a labelled ``_Dumped`` context (set-up, clean-up) dump here, not into the working
    # directory
    os.environ.setdefault("MS_DEV_SAVE_GRAPHS_PATH", os.path.join(tempfile.gettempdir(), "check_ascend_ops_other"))


def _require_dump(label, n_files):
    if not n_files:
        raise RuntimeError(f"check_ascend_ops: compiling {label} wrote no IR dump; MindSpore reads "
                           "MS_DEV_SAVE_GRAPHS at the first graph compile of a process, so run the check in a "
                           "fresh process (python scripts/check_ascend_ops.py ...)")


def _cell_builders():
    """name -> function returning (cell, list of float32 numpy inputs): one instance of each public Cell."""
    import numpy as np
    import mindspore as ms

    from mindchemistry_e3 import io, math, nn, o3

    rng = np.random.default_rng(0)

    def x(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def irr(cell_irreps, n=4):
        return x(n, o3.Irreps(cell_irreps).dim)

    sh = "0e+1o+2e"
    return {
        "o3.Linear": lambda: (o3.Linear("4x0e+2x1o", "3x0e+2x1o"), [irr("4x0e+2x1o")]),
        "o3.TensorProduct": lambda: (o3.TensorProduct("2x0e+2x1o", sh, "2x0e+2x1o",
                                                      [(0, 0, 0, "uvw", True), (1, 1, 0, "uvw", True),
                                                       (1, 0, 1, "uvu", True), (0, 1, 1, "uvw", True)]),
                                     [irr("2x0e+2x1o"), irr(sh)]),
        "o3.TensorProduct(uvu, per-edge weights)": lambda: _per_edge_tp(o3, x),
        "o3.TensorProductConv": lambda: _conv_on_graph(o3, x),
        "o3.StackedSum": lambda: _stacked_sum(o3, x),
        "o3.FullyConnectedTensorProduct": lambda: (o3.FullyConnectedTensorProduct("2x0e+1x1o", sh, "2x0e+1x1o"),
                                                   [irr("2x0e+1x1o"), irr(sh)]),
        "o3.FullTensorProduct": lambda: (o3.FullTensorProduct("2x0e+1x1o", "1x1o+1x2e"),
                                         [irr("2x0e+1x1o"), irr("1x1o+1x2e")]),
        "o3.ElementwiseTensorProduct": lambda: (o3.ElementwiseTensorProduct("2x0e+1x1o", "2x1o+1x2e"),
                                                [irr("2x0e+1x1o"), irr("2x1o+1x2e")]),
        "o3.TensorSquare": lambda: (o3.TensorSquare("2x0e+1x1o"), [irr("2x0e+1x1o")]),
        "o3.FullTensorProductv2": lambda: (o3.FullTensorProductv2("2x0e+1x1o", "1x1o+1x2e"),
                                           [irr("2x0e+1x1o"), irr("1x1o+1x2e")]),
        "o3.SphericalHarmonicsAlphaBeta": lambda: (o3.SphericalHarmonicsAlphaBeta([0, 1, 2]), [x(6), x(6)]),
        "o3.Legendre": lambda: (o3.Legendre([0, 1, 2]), [x(6), x(6)]),
        "o3.SphericalHarmonics": lambda: (o3.SphericalHarmonics([0, 1, 2, 3], True, normalization="component"),
                                          [x(6, 3)]),
        "o3.Norm": lambda: (o3.Norm("2x0e+2x1o"), [irr("2x0e+2x1o")]),
        "o3.ReducedTensorProducts": lambda: (o3.ReducedTensorProducts("ij=ji", i="1o"), [x(2, 3), x(2, 3)]),
        "o3.ToS2Grid": lambda: (o3.ToS2Grid(2, (6, 7)), [x(2, 9)]),
        "o3.FromS2Grid": lambda: (o3.FromS2Grid((6, 7), 2), [x(2, 6, 7)]),
        "o3.SO3Grid": lambda: (_So3GridRoundTrip(o3.SO3Grid(1, 4)), [x(2, 10)]),
        "nn.Activation": lambda: (nn.Activation("2x0e+2x0o", [ms.ops.tanh, ms.ops.tanh]), [irr("2x0e+2x0o")]),
        "nn.Gate": lambda: (nn.Gate("2x0e", [ms.ops.silu], "1x0e", [ms.ops.sigmoid], "1x1o"), [irr("2x0e+1x0e+1x1o")]),
        "nn.NormActivation": lambda: (nn.NormActivation("2x1o", ms.ops.sigmoid), [irr("2x1o")]),
        "nn.BatchNorm": lambda: (nn.BatchNorm("2x0e+2x1o"), [irr("2x0e+2x1o")]),
        "nn.Dropout": lambda: (nn.Dropout("2x0e+2x1o", 0.2), [irr("2x0e+2x1o")]),
        "nn.FullyConnectedNet": lambda: (nn.FullyConnectedNet([4, 8, 2], ms.ops.silu), [x(5, 4)]),
        "nn.Extract": lambda: (nn.Extract("1e+0e+0e", ["0e", "0e"], [(1,), (2,)]), [irr("1e+0e+0e")]),
        "nn.ExtractIr": lambda: (nn.ExtractIr("2x0e+1o+3x0e", "0e"), [irr("2x0e+1o+3x0e")]),
        "nn.Identity": lambda: (nn.Identity("2x0e+1x1o", "2x0e+1x1o"), [irr("2x0e+1x1o")]),
        "nn.S2Activation": lambda: (nn.S2Activation(io.SphericalTensor(2, p_val=1, p_arg=-1), ms.ops.tanh, 6),
                                    [x(2, 9)]),
        "nn.SO3Activation": lambda: (nn.SO3Activation(1, 1, ms.ops.tanh, 4), [x(2, 10)]),
        "math.SoftOneHotLinspace": lambda: (math.SoftOneHotLinspace(0.0, 2.0, 5, basis="smooth_finite",
                                                                    cutoff=True), [x(7)]),
        "math.normalize2mom": lambda: (math.normalize2mom(ms.ops.silu), [x(7)]),
    }


def _per_edge_tp(o3, x):
    cell = o3.TensorProduct("4x0e+4x1o", "0e+1o", "4x0e+4x1o",
                            [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (0, 1, 1, "uvu", True),
                             (1, 0, 1, "uvu", True)], shared_weights=False, internal_weights=False)
    return cell, [x(6, 16), x(6, 4), x(6, cell.weight_numel)]


def _conv_on_graph(o3, x):
    """NequIP's fused convolution on a fixed graph of 6 nodes and 8 edges (inputs: features, edge attributes,
    per-edge weights)."""
    import numpy as np
    import mindspore as ms
    from mindspore import nn

    conv = o3.TensorProductConv("4x0e+4x1o", "0e+1o", "4x0e+4x1o",
                                [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (0, 1, 1, "uvu", True),
                                 (1, 0, 1, "uvu", True)])

    class ConvOnGraph(nn.Cell):
        """The convolution with its edge list as constants (the check passes at most three float inputs)."""

        def __init__(self):
            super().__init__()
            self.conv = conv
            self.src = ms.Tensor(np.array([0, 1, 2, 3, 4, 5, 0, 2], np.int32))
            self.dst = ms.Tensor(np.array([1, 2, 3, 4, 5, 0, 3, 1], np.int32))

        def construct(self, x, a, w):
            return self.conv(x, a, w, self.src, self.dst)

    return ConvOnGraph(), [x(6, 16), x(8, 4), x(8, conv.weight_numel)]


def _stacked_sum(o3, x):
    """NequIP's Lin_2(h) + SC(x, z) as one StackedSum, in a Cell that holds the two maps (their Parameters are the
    StackedSum's weights; inputs: h, x, z)."""
    from mindspore import nn

    lin = o3.Linear("4x0e+2x1o", "3x0e+2x1o")
    sc = o3.FullyConnectedTensorProduct("2x0e+1x1o", "3x0e", "3x0e+2x1o")

    class LinearPlusSelfConnection(nn.Cell):
        """``StackedSum([lin, sc])`` on ``(h, sc.stack_features(x, z))`` with the maps' weights."""

        def __init__(self):
            super().__init__()
            self.lin, self.sc = lin, sc
            self.sum = o3.StackedSum([lin, sc])

        def construct(self, h, x1, z):
            return self.sum((h, self.sc.stack_features(x1, z)), (self.lin.weight, self.sc.weight))

    return LinearPlusSelfConnection(), [x(4, 10), x(4, 5), x(4, 3)]


def _So3GridRoundTrip(grid):  # pylint: disable=invalid-name
    from mindspore import nn

    class So3GridRoundTrip(nn.Cell):
        """SO3Grid has no construct of its own to speak of: time its to_grid / from_grid round trip."""

        def __init__(self, g):
            super().__init__()
            self.g = g

        def construct(self, x):
            return self.g.from_grid(self.g.to_grid(x))

    return So3GridRoundTrip(grid)


def _fixed_arity(net, n):
    """A Cell taking exactly ``n`` tensors and calling ``net`` on them (grad needs a fixed-arity construct)."""
    from mindspore import nn

    class Call1(nn.Cell):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def construct(self, a):
            return self.net(a)

    class Call2(Call1):
        def construct(self, a, b):
            return self.net(a, b)

    class Call3(Call1):
        def construct(self, a, b, c):
            return self.net(a, b, c)

    return (Call1, Call2, Call3)[n - 1](net)


def _forward_backward(net, n):
    """A Cell of ``n`` tensors: the gradient of the sum of ``net``'s outputs w.r.t. them and its parameters."""
    import mindspore as ms
    from mindspore import nn, ops

    class FwdBwd(nn.Cell):
        def __init__(self, net):
            super().__init__()
            self.net = net
            self.params = ms.ParameterTuple(net.trainable_params())
            self.grad = ops.GradOperation(get_all=True, get_by_list=len(self.params) > 0)

    class FwdBwd1(FwdBwd):
        def construct(self, a):
            if len(self.params) > 0:
                return self.grad(self.net, self.params)(a)
            return self.grad(self.net)(a)

    class FwdBwd2(FwdBwd):
        def construct(self, a, b):
            if len(self.params) > 0:
                return self.grad(self.net, self.params)(a, b)
            return self.grad(self.net)(a, b)

    class FwdBwd3(FwdBwd):
        def construct(self, a, b, c):
            if len(self.params) > 0:
                return self.grad(self.net, self.params)(a, b, c)
            return self.grad(self.net)(a, b, c)

    return (FwdBwd1, FwdBwd2, FwdBwd3)[n - 1](net)


def _run(cell, inputs):
    out = cell(*inputs)
    _run_sync(out if isinstance(out, (tuple, list)) else [out])


def _run_sync(items):
    for item in items:
        if isinstance(item, (tuple, list)):
            _run_sync(item)
        elif hasattr(item, "asnumpy"):
            item.asnumpy()


def collect_cells(names, root, log):
    """{graph label: primitive set} of the forward and forward+backward graphs of the named Cells."""
    import mindspore as ms

    builders = _cell_builders()
    unknown = [n for n in names if n not in builders]
    if unknown:
        raise SystemExit(f"check_ascend_ops: no representative instance for {unknown}; known: {sorted(builders)}")
    graphs, failures = {}, {}
    for name in names:
        cell, arrays = builders[name]()
        inputs = [ms.Tensor(a) for a in arrays]
        wrapped = _fixed_arity(cell, len(inputs))
        for phase, net in (("fwd", wrapped), ("fwd+bwd", _forward_backward(wrapped, len(inputs)))):
            label = f"{name} {phase}"
            with _Dumped(root, label) as dump:
                try:
                    _run(net, inputs)
                except Exception as exc:  # a Cell that does not compile is reported, not fatal
                    failures[label] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}"
            prims, n_files = dump.primitives()
            if label not in failures:
                _require_dump(label, n_files)
            if n_files:
                graphs[label] = prims
            log(f"  {label}: {len(prims)} primitives" + (f" (failed: {failures[label]})" if label in failures else ""))
    return graphs, failures


def collect_nequip(config, root, log):
    """{graph label: primitive set} of the NequIP train step and energy+forces graphs of ``config``."""
    import mindspore as ms

    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    from applications.nequip.config import load_config
    from applications.nequip.train import Trainer, batch_inputs

    cfg = load_config(config, {"training": {"progress": False}})
    graphs = {}
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, run_dir=run_dir, log=lambda line: None)
        batch = next(iter(trainer.train_loader.epoch(0)))
        name = os.path.basename(config)
        with _Dumped(root, f"nequip train step {name}") as dump:
            loss, _ = trainer.step(*batch_inputs(batch, trainer.dtype), ms.Tensor(0.99, trainer.dtype))
            loss.asnumpy()
        label = f"NequIP train step ({name})"
        graphs[label], n_files = dump.primitives()
        _require_dump(label, n_files)
        with _Dumped(root, f"nequip energy forces {name}") as dump:
            _run_sync(trainer.eval_model(*batch_inputs(batch, trainer.dtype, labels=False)))
        label = f"NequIP energy+forces ({name})"
        graphs[label], n_files = dump.primitives()
        _require_dump(label, n_files)
    for label, prims in graphs.items():
        log(f"  {label}: {len(prims)} primitives")
    return graphs


# ================================================================================================ report
def build_table(graphs, kernels, extra=()):
    """Rows (sorted: missing first, then by name) with the graphs that use each primitive."""
    users = {}
    for label, prims in graphs.items():
        for p in prims:
            users.setdefault(p, []).append(label)
    for p in extra:
        users.setdefault(p, []).append("--extra-prim")
    order = {"MISSING": 0, "GE": 1, "aclnn": 2, "nop": 3, "virtual": 4}
    rows = []
    for p, labels in users.items():
        row = classify(p, kernels)
        row["used_by"] = sorted(set(labels))
        rows.append(row)
    rows.sort(key=lambda r: (order[r["verdict"]], r["primitive"]))
    return rows


def _short_users(labels, limit=6):
    text = ", ".join(labels[:limit])
    return text + (f", ... (+{len(labels) - limit})" if len(labels) > limit else "")


def to_markdown(rows, meta):
    lines = [f"# Ascend kernels of the primitives in our compiled graphs", "",
             f"Generated by `python scripts/check_ascend_ops.py --out benchmarks/ascend_ops.md` "
             f"(MindSpore {meta['mindspore']}, {meta['date']}, commit {meta['commit']}). The rule is in the "
             f"script's docstring. Graphs: {meta['n_graphs']} ({meta['graphs_summary']}).", "",
             "| primitive | verdict | aclnn kernel | GE adapter | AICPU | used by |", "|---|---|---|---|---|---|"]
    for r in rows:  # every user of a primitive without aclnn kernel; the first few of the others
        users = ", ".join(r["used_by"]) if r["verdict"] in ("GE", "MISSING") else _short_users(r["used_by"])
        lines.append(f"| {r['primitive']} | {r['verdict']} | {r['aclnn'] or 'no'} | {r['ge_adapter'] or 'no'} | "
                     f"{'yes' if r['aicpu'] else 'no'} | {users} |")
    if meta.get("failures"):
        lines += ["", "Graphs that did not compile on CPU (not checked):", ""]
        lines += [f"- {k}: {v}" for k, v in meta["failures"].items()]
    return "\n".join(lines) + "\n"


def print_table(rows, stream=sys.stdout):
    header = f"{'primitive':<26} {'verdict':<11} {'aclnn':<34} {'GE adapter':<24} {'AICPU':<5}  used by"
    print(header, file=stream)
    print("-" * len(header), file=stream)
    for r in rows:
        print(f"{r['primitive']:<26} {r['verdict']:<11} {str(r['aclnn'] or 'no'):<34} "
              f"{str(r['ge_adapter'] or 'no'):<24} {'yes' if r['aicpu'] else 'no':<5}  {_short_users(r['used_by'], 3)}",
              file=stream)


def _commit():
    try:
        import subprocess

        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=False).stdout.strip() or "?"
    except OSError:
        return "?"


def main(argv=None):
    """Compile, list, look up, print; returns 1 when a primitive is MISSING."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="all", help="comma-separated Cell names (see --list), 'all' or 'none'")
    parser.add_argument("--nequip-config", default=DEFAULT_NEQUIP_CONFIG, help="config of the NequIP graphs")
    parser.add_argument("--no-nequip", action="store_true", help="skip the NequIP train step and energy+forces")
    parser.add_argument("--extra-prim", action="append", default=[], metavar="NAME",
                        help="also look up this primitive name (as if a graph used it)")
    parser.add_argument("--ir", action="append", default=[], metavar="FILE",
                        help="also read the primitives of this IR dump file")
    parser.add_argument("--out", help="write the table to this .md or .json file")
    parser.add_argument("--keep-ir", metavar="DIR", help="write the IR dumps to DIR (default: a temporary folder)")
    parser.add_argument("--list", action="store_true", help="list the Cell names and exit")
    parser.add_argument("--explain", action="store_true", help="print the matching rule and exit")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.explain:
        print(__doc__)
        return 0
    log = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    os.environ.setdefault("GLOG_v", "3")
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    kernels = ascend_kernels()
    import mindspore as ms

    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    # the graphs Ascend compiles: without the native CPU kernels (o3's fused spherical harmonics), which a CPU
    # target would choose
    from mindchemistry_e3.util import use_native_kernels

    use_native_kernels(False)
    try:
        ms.device_context.cpu.op_tuning.threads_num(1)
    except (RuntimeError, AttributeError):
        pass
    if args.list:
        print("\n".join(sorted(_cell_builders())))
        return 0
    if args.cells == "all":
        names = sorted(_cell_builders())
    elif args.cells == "none":
        names = []
    else:
        names = [n.strip() for n in args.cells.split(",") if n.strip()]
    graphs, failures = {}, {}
    if names or not args.no_nequip:
        enable_ir_dump()  # compiles the graphs of this process with IR dumps: run in a fresh process
    with tempfile.TemporaryDirectory(prefix="check_ascend_ops_") as tmp:
        root = args.keep_ir or tmp
        if names:
            log(f"compiling {len(names)} Cells (forward and forward+backward)")
            g, failures = collect_cells(names, root, log)
            graphs.update(g)
        if not args.no_nequip:
            log(f"compiling the NequIP graphs of {os.path.relpath(args.nequip_config, REPO)}")
            graphs.update(collect_nequip(args.nequip_config, root, log))
    for path in args.ir:
        with open(path, encoding="utf-8", errors="replace") as fh:
            graphs[os.path.basename(path)] = primitives_in_ir(fh.read())
    rows = build_table(graphs, kernels, args.extra_prim)
    print_table(rows)
    missing = [r["primitive"] for r in rows if r["verdict"] == "MISSING"]
    no_aclnn = [r["primitive"] for r in rows if r["verdict"].startswith("GE")]
    print(f"\n{len(rows)} primitives in {len(graphs)} graphs; without aclnn kernel (GE/ACL route): "
          f"{', '.join(no_aclnn) or 'none'}; with neither: {', '.join(missing) or 'none'}")
    if args.out:
        import datetime

        meta = {"mindspore": ms.__version__, "date": datetime.date.today().isoformat(), "commit": _commit(),
                "n_graphs": len(graphs), "failures": failures,
                "graphs_summary": f"{len(names)} Cells x fwd, fwd+bwd" + ("" if args.no_nequip else
                                                                          ", NequIP train step, energy+forces")}
        with open(args.out, "w", encoding="utf-8") as fh:
            if args.out.endswith(".json"):
                json.dump({"meta": meta, "graphs": {k: sorted(v) for k, v in graphs.items()}, "rows": rows}, fh,
                          indent=1)
            else:
                fh.write(to_markdown(rows, meta))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
