"""Load a trained NequIP checkpoint and predict energies, forces and stress (used by ``evaluate``, ``predict``
and the ASE calculator).

Prediction runs the energy model and its gradients in one compiled graph (GRAPH_MODE, first order only), on
batches padded to the data layer's buckets (``32 * 2**k`` atoms and edges by default), so a stream of similar
structures (an MD trajectory) reuses a handful of compiled graphs.

>>> p = Predictor.from_checkpoint("outputs/nequip/aspirin/best.ckpt")          # doctest: +SKIP
>>> out = p.predict(frames)                                                     # doctest: +SKIP
>>> out[0]["energy"], out[0]["forces"].shape                                    # doctest: +SKIP
(-1077.1, (21, 3))
"""
import numpy as np

from applications.nequip.checkpoint import load_checkpoint

__all__ = ["Predictor"]


class Predictor:
    """A trained model ready for inference.

    Args:
        net (NequIP): the energy model with its weights loaded.
        stats (dict): the data statistics stored with the model (``species``, ...).
        model_cfg (dict): the ``model`` config section.
        dtype (str): ``"float32"`` or ``"float64"``.
        batch_size (int): structures per batch in :meth:`predict`.

    Use :meth:`from_checkpoint` to build one from a file.
    """

    def __init__(self, net, stats, model_cfg, dtype="float32", batch_size=8):
        import mindspore as ms

        from applications.nequip.data import TypeMapper
        from applications.nequip.model import EnergyForceModel
        from applications.nequip.model.build import MS_DTYPES

        ms.set_context(mode=ms.GRAPH_MODE)
        self.net = net
        self.stats = stats
        self.model_cfg = model_cfg
        self.r_max = float(model_cfg["r_max"])
        self.dtype_name = dtype
        self.dtype = MS_DTYPES[dtype]
        self.np_dtype = np.float64 if dtype == "float64" else np.float32
        self.mapper = TypeMapper(stats["species"])
        self.batch_size = int(batch_size)
        self.model = EnergyForceModel(net, compute_stress=False)
        self._model_stress = None

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

    @classmethod
    def from_checkpoint(cls, path, use_ema=True, batch_size=8):
        """Rebuild the model of a checkpoint (EMA weights when present and ``use_ema``).

        Raises:
            ValueError: a missing, corrupt or mismatched checkpoint.
        """
        import mindspore as ms

        from applications.nequip.config import load_config
        from applications.nequip.model.build import build_model

        arrays, meta = load_checkpoint(path)
        try:
            cfg = load_config(meta["config"])
            stats = meta["stats"]
        except (KeyError, TypeError) as err:
            raise ValueError(f"checkpoint {path} lacks its config or statistics ({err})") from None
        net, _ = build_model(cfg["model"], stats, cfg["dtype"])
        for name, p in net.parameters_and_names():
            key = "ema/" + name
            if not (use_ema and key in arrays):
                key = "model/" + name
            if key not in arrays:
                raise ValueError(f"checkpoint {path} does not match its model: no weights for {name!r}")
            arr = arrays[key]
            if tuple(arr.shape) != tuple(p.shape):
                raise ValueError(f"checkpoint {path}: {name} has shape {arr.shape}, the model expects "
                                 f"{tuple(p.shape)}")
            p.set_data(ms.Tensor(arr, p.dtype))
        out = cls(net, stats, cfg["model"], cfg["dtype"], batch_size=batch_size)
        out.checkpoint_meta = meta
        return out

    @property
    def species(self):
        """Chemical symbols the model knows."""
        return self.mapper.symbols

    def predict_batches(self, frames, stress=None):
        """Yield ``(batch, energy [G], forces [N, 3], stress [G, 3, 3] or None)`` per padded batch (numpy).

        ``frames`` get neighbour lists (built here, with the model's cutoff, if missing or built with another
        cutoff). ``stress``: None = when any frame is periodic.
        """
        from applications.nequip.data import BatchLoader, build_neighbors
        from applications.nequip.train import batch_inputs

        if not frames:
            return
        self.mapper.check(frames)
        todo = [f for f in frames if f.edge_src is None or f.r_max != self.r_max]
        if todo:
            build_neighbors(todo, self.r_max, on_isolated="ignore")
        if stress is None:
            stress = any(f.pbc.any() for f in frames)
        model = self.model_stress if stress else self.model
        loader = BatchLoader(frames, self.mapper, min(self.batch_size, len(frames)), shuffle=False,
                             dtype=self.np_dtype)
        for batch in loader.epoch(0):
            out = model(*batch_inputs(batch, self.dtype, labels=False))
            yield batch, out[0].asnumpy(), out[1].asnumpy(), (out[2].asnumpy() if stress else None)

    def predict(self, frames, stress=None):
        """Per frame (in order): dict with ``energy`` (eV), ``forces`` ``[n, 3]`` (eV/Å) and, for periodic
        frames when computed, ``stress`` ``[3, 3]`` (eV/Å^3)."""
        results = []
        for batch, e, f, s in self.predict_batches(frames, stress):
            real = batch.atom_mask[:, 0] > 0
            for g in range(batch.num_graphs):
                atoms = np.flatnonzero(real & (batch.batch == g))
                item = {"energy": float(e[g]), "forces": f[atoms].astype(np.float64)}
                frame = frames[int(batch.frame_ids[g])] if batch.frame_ids is not None else None
                if s is not None and (frame is None or frame.pbc.any()):
                    item["stress"] = s[g].astype(np.float64)
                results.append(item)
        return results
