"""Load a trained NequIP model — a checkpoint or an exported MindIR model (``deploy``) — and predict energies,
forces and stress (used by ``evaluate``, ``predict``, ``md`` and the ASE calculator).

Prediction runs the energy and its gradients in one compiled graph (GRAPH_MODE, first order only) on batches
padded to buckets: from a checkpoint, ``32 * 2**k`` atoms and edges (graphs compiled on first use, through the
compile cache when one is given); from an exported model, the buckets it was exported for (one MindIR file each;
a batch that fits none is refused with the ``deploy`` command that adds one).

>>> p = Predictor.from_checkpoint("outputs/nequip/aspirin/best.ckpt")          # doctest: +SKIP
>>> out = p.predict(frames)                                                     # doctest: +SKIP
>>> out[0]["energy"], out[0]["forces"].shape                                    # doctest: +SKIP
(-1077.1, (21, 3))
"""
import json
import os

import numpy as np

from applications.nequip.checkpoint import load_checkpoint

__all__ = ["Predictor", "CheckpointGraphs", "ExportedGraphs", "load_predictor", "EXPORT_FORMAT",
           "read_export_meta"]

#: ``format`` of the ``model.json`` an export writes.
EXPORT_FORMAT = "mindchemistry_e3.nequip.mindir/1"


class CheckpointGraphs:
    """Energy / forces (/ stress) graphs of a network built from a checkpoint, compiled per bucket on first use."""

    def __init__(self, net, model_cfg, stats, dtype_name):
        from applications.nequip.model import EnergyForceModel

        self.net, self.model_cfg, self.stats, self.dtype_name = net, model_cfg, stats, dtype_name
        self.model = EnergyForceModel(net, compute_stress=False)
        self._model_stress = None
        self.has_stress = True

    @property
    def model_stress(self):
        """The energy/force/stress wrapper, on its own copy of the network (built on first use).

        A copy, not the same Cells: MindSpore 2.10 can fail to compile a second graph with a different set of
        gradient inputs on Cells already compiled in another one (see tests/applications/nequip/test_model.py).
        """
        if self._model_stress is None:
            import mindspore as ms

            from applications.nequip.model import EnergyForceModel
            from applications.nequip.model.build import build_model

            twin, _ = build_model(self.model_cfg, self.stats, self.dtype_name)
            for (_, a), (_, b) in zip(self.net.parameters_and_names(), twin.parameters_and_names()):
                b.set_data(ms.Tensor(a.asnumpy(), b.dtype))
            self._model_stress = EnergyForceModel(twin, compute_stress=True)
        return self._model_stress

    def cell(self, stress):
        """The Cell for batches with (or without) stress."""
        return self.model_stress if stress else self.model

    def bucket_for(self, n_atoms, n_edges, num_graphs):
        """``(n_pad, e_pad)`` for a batch: the ``32 * 2**k`` buckets."""
        from applications.nequip.data import round_up

        return round_up(n_atoms + 1), round_up(n_edges)

    def run(self, inputs, bucket, stress):
        """Outputs ``(energy, forces[, stress])`` as Tensors."""
        del bucket
        return self.cell(stress)(*inputs)


def read_export_meta(path):
    """The ``model.json`` of an exported model (``path``: the export folder or the file) and its folder.

    Raises:
        ValueError: no such export, or not one of this application.
    """
    path = str(path)
    meta_path = os.path.join(path, "model.json") if os.path.isdir(path) else path
    if not os.path.isfile(meta_path):
        raise ValueError(f"exported model not found: {path} (expected the folder written by deploy, or its "
                         "model.json)")
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError) as err:
        raise ValueError(f"{meta_path} is not a readable model.json ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{meta_path} is not an exported NequIP model (format "
                         f"{meta.get('format') if isinstance(meta, dict) else None!r}, expected {EXPORT_FORMAT!r})")
    return meta, os.path.dirname(os.path.abspath(meta_path))


class ExportedGraphs:
    """The MindIR files of an export, one per bucket (loaded as ``nn.GraphCell`` on first use)."""

    def __init__(self, meta, folder):
        self.meta, self.folder = meta, folder
        self.batch_size = int(meta["batch_size"])
        self.has_stress = bool(meta["stress"])
        self.buckets = sorted((int(b["atoms"]), int(b["edges"]), b["file"]) for b in meta["buckets"])
        self._cells = {}
        for _, _, name in self.buckets:
            if not os.path.isfile(os.path.join(folder, name)):
                raise ValueError(f"exported model {folder}: {name} is missing")

    def bucket_for(self, n_atoms, n_edges, num_graphs):
        """The smallest exported ``(n_pad, e_pad)`` that fits; ValueError naming the deploy command otherwise."""
        if num_graphs > self.batch_size:
            raise ValueError(f"the exported model takes batches of at most {self.batch_size} structures, got "
                             f"{num_graphs}")
        from applications.nequip.data import round_up

        fits = [(n * e, n, e) for n, e, _ in self.buckets if n >= n_atoms + 1 and e >= n_edges]
        if not fits:
            have = ", ".join(f"({n}, {e})" for n, e, _ in self.buckets)
            raise ValueError(f"the exported model {self.folder} has no bucket for {n_atoms} atoms (+1 padding) and "
                             f"{n_edges} edges in a batch of {self.batch_size}; it has (atoms, edges) {have}; "
                             f"export one with: mindchemistry-nequip deploy --checkpoint CKPT --out DIR "
                             f"--batch-size {self.batch_size} --bucket {round_up(n_atoms + 1)}x{round_up(n_edges)}")
        _, n, e = min(fits)
        return n, e

    def run(self, inputs, bucket, stress):
        """Outputs of the bucket's MindIR graph (with stress when the export has it)."""
        import mindspore as ms
        from mindspore import nn

        del stress
        if bucket not in self._cells:
            name = next(f for n, e, f in self.buckets if (n, e) == bucket)
            self._cells[bucket] = nn.GraphCell(ms.load(os.path.join(self.folder, name)))
        return self._cells[bucket](*inputs)


class Predictor:
    """A trained model ready for inference.

    Args:
        graphs (CheckpointGraphs or ExportedGraphs): what runs the batches.
        stats (dict): the data statistics stored with the model (``species``, ...).
        model_cfg (dict): the ``model`` config section.
        dtype (str): ``"float32"`` or ``"float64"``.
        batch_size (int): structures per batch in :meth:`predict` (an export fixes it).
        compile_cache (str, optional): compile cache root for the first graphs of a checkpoint
            (:meth:`prepare`).
        device (str): the device (part of the compile cache key).
        log (callable, optional): where compile messages go (default: nowhere).

    Use :meth:`from_checkpoint`, :meth:`from_exported` or :func:`load_predictor` to build one.
    """

    def __init__(self, graphs, stats, model_cfg, dtype="float32", batch_size=8, compile_cache=None, device="CPU",
                 log=None):
        import mindspore as ms

        from applications.nequip.data import TypeMapper
        from applications.nequip.model.build import MS_DTYPES

        ms.set_context(mode=ms.GRAPH_MODE)
        self.graphs = graphs
        self.stats = stats
        self.model_cfg = model_cfg
        self.r_max = float(model_cfg["r_max"])
        self.dtype_name = dtype
        self.dtype = MS_DTYPES[dtype]
        self.np_dtype = np.float64 if dtype == "float64" else np.float32
        self.mapper = TypeMapper(stats["species"])
        self.batch_size = int(getattr(graphs, "batch_size", batch_size))
        self.compile_cache, self.device = compile_cache, device
        self.log = log if log is not None else _quiet_log
        self._prepared = False
        self.checkpoint_meta = None

    @property
    def net(self):
        """The energy network (checkpoint models only)."""
        return self.graphs.net

    @property
    def model(self):
        """The energy/forces Cell (checkpoint models only)."""
        return self.graphs.model

    @classmethod
    def from_checkpoint(cls, path, use_ema=True, batch_size=8, compile_cache=None, device="CPU", log=None,
                        compute_dtype=None):
        """Rebuild the model of a checkpoint (EMA weights when present and ``use_ema``); ``compute_dtype``
        (``"float32"``, ``"float16"`` or ``"bfloat16"``; None: the checkpoint's ``model.compute_dtype``) sets the
        operand dtype of the model's products, e.g. float16 for a float32-trained model.

        Raises:
            ValueError: a missing, corrupt or mismatched checkpoint.
        """
        import mindspore as ms

        from applications.nequip.config import load_config
        from applications.nequip.model.build import build_model
        from applications.nequip.training.state import eval_weights

        arrays, meta = load_checkpoint(path)
        try:
            cfg = load_config(meta["config"])
            stats = meta["stats"]
        except (KeyError, TypeError) as err:
            raise ValueError(f"checkpoint {path} lacks its config or statistics ({err})") from None
        if compute_dtype is not None:  # e.g. float16 products for a float32-trained model
            if compute_dtype not in ("float32", "float16", "bfloat16"):
                raise ValueError(f"compute_dtype must be float32, float16 or bfloat16, got {compute_dtype!r}")
            cfg["model"]["compute_dtype"] = None if compute_dtype == "float32" else compute_dtype
            cfg = load_config(cfg)  # validated (compute_dtype needs dtype float32)
        net, _ = build_model(cfg["model"], stats, cfg["dtype"])
        weights = eval_weights(arrays, use_ema)
        for name, p in net.parameters_and_names():
            if name not in weights:
                raise ValueError(f"checkpoint {path} does not match its model: no weights for {name!r}")
            arr = weights[name]
            if tuple(arr.shape) != tuple(p.shape):
                raise ValueError(f"checkpoint {path}: {name} has shape {arr.shape}, the model expects "
                                 f"{tuple(p.shape)}")
            p.set_data(ms.Tensor(arr, p.dtype))
        out = cls(CheckpointGraphs(net, cfg["model"], stats, cfg["dtype"]), stats, cfg["model"], cfg["dtype"],
                  batch_size=batch_size, compile_cache=compile_cache, device=device, log=log)
        out.checkpoint_meta = meta
        return out

    @classmethod
    def from_exported(cls, path):
        """Load an exported model (the folder ``deploy`` wrote, or its ``model.json``).

        Raises:
            ValueError: not an export of this application, or a file of it missing.
        """
        meta, folder = read_export_meta(path)
        graphs = ExportedGraphs(meta, folder)
        return cls(graphs, meta["stats"], meta["config"]["model"], meta["dtype"], batch_size=graphs.batch_size)

    @property
    def species(self):
        """Chemical symbols the model knows."""
        return self.mapper.symbols

    def _batches(self, frames):
        """``(frames, ids, n_pad, e_pad)`` of consecutive batches of ``self.batch_size`` structures."""
        for k in range(0, len(frames), self.batch_size):
            ids = list(range(k, min(k + self.batch_size, len(frames))))
            chunk = [frames[i] for i in ids]
            n_pad, e_pad = self.graphs.bucket_for(sum(f.num_atoms for f in chunk), sum(f.num_edges for f in chunk),
                                                  len(chunk))
            yield chunk, ids, n_pad, e_pad

    def prepare(self, frames, stress=None):
        """Compile, up front and through the compile cache, the graphs ``frames`` need (checkpoint models; the
        first call only). Later batches of new sizes compile when they come."""
        from applications.nequip.compile_cache import PlanItem, compile_plan
        from applications.nequip.data import build_neighbors, padding_batch
        from applications.nequip.model import batch_inputs

        if self._prepared or not isinstance(self.graphs, CheckpointGraphs) or not frames:
            return
        self._prepared = True
        todo = [f for f in frames if f.edge_src is None or f.r_max != self.r_max]
        if todo:
            build_neighbors(todo, self.r_max, on_isolated="ignore")
        stress = any(f.pbc.any() for f in frames) if stress is None else stress
        cell = self.graphs.cell(stress)
        buckets = sorted({(n, e) for _, _, n, e in self._batches(frames)})
        plan = [PlanItem(f"the {'energy/forces/stress' if stress else 'energy/forces'} graph for bucket {b}", cell,
                         batch_inputs(padding_batch(b[0], b[1], self.batch_size, self.np_dtype), self.dtype, False))
                for b in buckets]
        settings = {"model": self.model_cfg, "stats": self.stats, "dtype": self.dtype_name, "stress": stress}
        compile_plan(plan, self.compile_cache, settings, self.device, log=self.log)

    def predict_batches(self, frames, stress=None):
        """Yield ``(batch, energy [G], forces [N, 3], stress [G, 3, 3] or None)`` per padded batch (numpy).

        ``frames`` get neighbour lists (built here, with the model's cutoff, if missing or built with another
        cutoff). ``stress``: None = when any frame is periodic (and the model can).
        """
        from applications.nequip.data import build_neighbors, collate
        from applications.nequip.model import batch_inputs

        if not frames:
            return
        self.mapper.check(frames)
        todo = [f for f in frames if f.edge_src is None or f.r_max != self.r_max]
        if todo:
            build_neighbors(todo, self.r_max, on_isolated="ignore")
        if stress is None:
            stress = any(f.pbc.any() for f in frames) and self.graphs.has_stress
        if stress and not self.graphs.has_stress:
            raise ValueError("this exported model has no stress output (export it with deploy --stress)")
        self.prepare(frames, stress)
        for chunk, ids, n_pad, e_pad in self._batches(frames):
            batch = collate(chunk, self.mapper, n_pad=n_pad, e_pad=e_pad, num_graphs=self.batch_size,
                            dtype=self.np_dtype, frame_ids=np.asarray(ids))
            out = self.graphs.run(batch_inputs(batch, self.dtype, labels=False), (n_pad, e_pad), stress)
            s = out[2].asnumpy() if stress and len(out) > 2 else None
            yield batch, out[0].asnumpy(), out[1].asnumpy(), s

    def predict(self, frames, stress=None):
        """Per frame (in order): dict with ``energy`` (eV), ``forces`` ``[n, 3]`` (eV/Å) and, for periodic
        frames when computed, ``stress`` ``[3, 3]`` (eV/Å^3)."""
        results = []
        for batch, e, f, s in self.predict_batches(frames, stress):
            real = batch.atom_mask[:, 0] > 0
            for g in range(batch.num_graphs):
                atoms = np.flatnonzero(real & (batch.batch == g))
                item = {"energy": float(e[g]), "forces": f[atoms].astype(np.float64)}
                frame = frames[int(batch.frame_ids[g])]
                if s is not None and frame.pbc.any():
                    item["stress"] = s[g].astype(np.float64)
                results.append(item)
        return results


def _quiet_log(line):
    del line


def load_predictor(checkpoint=None, model=None, use_ema=True, batch_size=8, compile_cache=None, device="CPU",
                   log=None, compute_dtype=None):
    """A :class:`Predictor` from a checkpoint or from an exported model (exactly one of them); ``compute_dtype``
    (checkpoints only) as in :meth:`Predictor.from_checkpoint`.

    Raises:
        ValueError: neither or both given, or a bad file.
    """
    if (checkpoint is None) == (model is None):
        raise ValueError("give a checkpoint or an exported model (exactly one)")
    if model is not None:
        if compute_dtype is not None:
            raise ValueError("compute_dtype applies to checkpoints; an exported model keeps the precision it was "
                             "exported with")
        return Predictor.from_exported(model)
    return Predictor.from_checkpoint(checkpoint, use_ema=use_ema, batch_size=batch_size,
                                     compile_cache=compile_cache, device=device, log=log, compute_dtype=compute_dtype)
