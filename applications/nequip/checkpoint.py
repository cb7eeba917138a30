"""Checkpoints of the NequIP application: MindSpore checkpoint files (``mindspore.load_checkpoint`` reads them),
written atomically, read with clear errors; the earlier npz format is still read and converts with one command.

Layout of a file (``mindspore.load_checkpoint(path)`` returns these names):

* ``<name>`` for every parameter of the :class:`~applications.nequip.model.nequip.NequIP` network (its own
  parameter names): the **weights to evaluate** — the EMA of the trained weights when training kept one, else the
  trained weights. ``mindspore.load_param_into_net(net, mindspore.load_checkpoint(path))`` on a network built from
  the stored config (:func:`applications.nequip.model.build.build_model`) gives the model ``evaluate`` uses.
* ``raw/<name>``: the trained weights themselves (only when they differ from the evaluated ones, i.e. with EMA).
* ``train/<name>``: the rest of the train step's state (optimizer moments, step counters, learning rate, metric
  sums of an unfinished epoch), for ``--resume``.
* ``nequip_meta``: a JSON string with the format version, the config, the data statistics (species, average number
  of neighbours, per-species shift and scale) and the trainer state (epoch, history, scheduler, ...).

In memory (:func:`save_checkpoint` / :func:`load_checkpoint`) a checkpoint is ``(arrays, meta)`` with arrays named
``model/<name>`` (trained weights), ``ema/<name>`` (their EMA) and ``train/<name>``, whatever the file format.
A file is written to a temporary file in the same folder, flushed, then renamed over the target, so an interrupted
write leaves the previous checkpoint, never a broken one. Reading checks MindSpore's CRC and the format and raises
``ValueError`` naming the file, with a hint to the other checkpoint of the run (``last.ckpt`` / ``best.ckpt``).

>>> import numpy as np, os, tempfile
>>> p = os.path.join(tempfile.mkdtemp(), "a.ckpt")
>>> save_checkpoint(p, {"model/w": np.ones(2), "ema/w": np.zeros(2)}, {"epoch": 3})
>>> sorted(load_mindspore_names(p))
['nequip_meta', 'raw/w', 'w']
>>> arrays, meta = load_checkpoint(p)
>>> arrays["model/w"].tolist(), arrays["ema/w"].tolist(), meta["epoch"]
([1.0, 1.0], [0.0, 0.0], 3)

Convert a checkpoint of the earlier npz format (``mindchemistry_e3.nequip/1``)::

    mindchemistry-nequip convert OLD.ckpt NEW.ckpt [--weights-only]     # or python -m applications.nequip.checkpoint
"""
import contextlib
import json
import logging
import os
import sys
import zipfile

import numpy as np

from applications.nequip.files import atomic_path

__all__ = ["save_checkpoint", "load_checkpoint", "read_meta", "convert_checkpoint", "load_mindspore_names",
           "legacy_duplicates", "other_checkpoint_hint", "CHECKPOINT_FORMAT", "LEGACY_FORMAT", "META_KEY", "main"]

CHECKPOINT_FORMAT = "mindchemistry_e3.nequip/2"
LEGACY_FORMAT = "mindchemistry_e3.nequip/1"
#: Name of the JSON metadata entry of a checkpoint file.
META_KEY = "nequip_meta"
_LEGACY_META = "__meta__"
_PREFIXES = ("model/", "ema/", "train/")


def _file_names(arrays):
    """In-memory name -> file name (see the module docstring)."""
    ema = {k[4:] for k in arrays if k.startswith("ema/")}
    out = {}
    for key in arrays:
        if not key.startswith(_PREFIXES):
            raise ValueError(f"save_checkpoint: array name {key!r} must start with one of {_PREFIXES}")
        if key.startswith("ema/"):
            out[key] = key[4:]
        elif key.startswith("model/"):
            out[key] = ("raw/" + key[6:]) if key[6:] in ema else key[6:]
        else:
            out[key] = key
    if META_KEY in out.values():
        raise ValueError(f"save_checkpoint: {META_KEY!r} is a reserved name")
    return out


def save_checkpoint(path, arrays, meta):
    """Write ``arrays`` (``model/``, ``ema/``, ``train/`` names -> numpy arrays) and ``meta`` (a JSON-serialisable
    dict) as a MindSpore checkpoint at ``path``, atomically."""
    import mindspore as ms

    names = _file_names(arrays)
    meta = dict(meta)
    meta["format"] = CHECKPOINT_FORMAT
    text = json.dumps(meta, allow_nan=False)
    entries = [{"name": names[k], "data": ms.Tensor(np.asarray(v))} for k, v in arrays.items()]
    with atomic_path(path, ".ckpt") as tmp:
        os.remove(tmp)     # MindSpore writes the file itself (read-only)
        ms.save_checkpoint(entries, tmp, append_dict={META_KEY: text}, crc_check=True)


@contextlib.contextmanager
def _quiet_mindspore_log():
    """MindSpore logs an ``[ERROR]`` line before raising on a bad file: the ValueError says it already."""
    logger = logging.getLogger("mindspore")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def other_checkpoint_hint(path):
    """``'; the run also has best.ckpt (...)'`` when ``path`` is a run's last/best checkpoint and the other exists."""
    base = os.path.basename(str(path))
    other = {"last.ckpt": "best.ckpt", "best.ckpt": "last.ckpt"}.get(base)
    if other is None:
        return ""
    other_path = os.path.join(os.path.dirname(str(path)), other)
    if not os.path.isfile(other_path):
        return ""
    hint = f"; the run also has {other_path}"
    if other == "best.ckpt":
        hint += " (continue from it with --resume best)"
    return hint


def _is_zip(path):
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def _load_legacy(path):
    try:
        with np.load(path, allow_pickle=False) as f:
            names = list(f.files)
            if _LEGACY_META not in names:
                raise ValueError(f"{path} is not a NequIP checkpoint of this application (no metadata)")
            arrays = {k: f[k] for k in names if k != _LEGACY_META}
            meta = json.loads(bytes(f[_LEGACY_META]).decode("utf-8"))
    except ValueError as err:
        if "not a NequIP checkpoint" in str(err):
            raise
        raise ValueError(f"checkpoint {path} is corrupt or not a checkpoint: {err}") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, UnicodeDecodeError) as err:
        raise ValueError(f"checkpoint {path} is corrupt or truncated: {type(err).__name__}: {err}") from None
    if meta.get("format") != LEGACY_FORMAT:
        raise ValueError(f"checkpoint {path} has format {meta.get('format')!r}, expected {LEGACY_FORMAT!r}")
    return arrays, meta


def load_mindspore_names(path):
    """The entries of a MindSpore checkpoint file: name -> numpy array (or str for the metadata)."""
    import mindspore as ms

    try:
        with _quiet_mindspore_log():
            params = ms.load_checkpoint(str(path), crc_check=True)
    except (ValueError, RuntimeError, TypeError, OSError) as err:
        reason = str(err).split("\n", 1)[0]
        raise ValueError(f"checkpoint {path} is corrupt or truncated ({reason})") from None
    return {k: (v if isinstance(v, str) else v.asnumpy().copy()) for k, v in params.items()}


def _load_native(path):
    entries = load_mindspore_names(path)
    if META_KEY not in entries:
        raise ValueError(f"{path} is a MindSpore checkpoint but not one of the NequIP application (no "
                         f"{META_KEY!r} entry)")
    try:
        meta = json.loads(entries.pop(META_KEY))
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path}: its metadata is not valid JSON ({err})") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path} has format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
    raw = {k[4:] for k in entries if k.startswith("raw/")}
    arrays = {}
    for name, value in entries.items():
        if name.startswith("train/"):
            arrays[name] = value
        elif name.startswith("raw/"):
            arrays["model/" + name[4:]] = value
        elif name in raw:
            arrays["ema/" + name] = value
        else:
            arrays["model/" + name] = value
    return arrays, meta


def load_checkpoint(path):
    """Read a checkpoint (this format or the earlier npz one): ``(arrays, meta)``.

    Raises:
        ValueError: a missing, truncated, corrupt or foreign file (naming it, with a hint to the run's other
            checkpoint when there is one).
    """
    path = str(path)
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint not found: {path}")
    try:
        return _load_legacy(path) if _is_zip(path) else _load_native(path)
    except ValueError as err:
        raise ValueError(f"{err}{other_checkpoint_hint(path)}") from None


def read_meta(path):
    """The metadata (config, statistics, trainer state) of a checkpoint."""
    return load_checkpoint(path)[1]


def legacy_duplicates(arrays):
    """``train/`` entries of an npz checkpoint that repeat its ``model/`` and ``ema/`` weights (the earlier trainer
    saved every parameter of the train step, weights and EMA included, under their step names)."""
    names = {k[6:] for k in arrays if k.startswith("model/")}
    dup = set()
    for n in names:
        dup.update({"train/model.model." + n, "train/ema.model.model." + n})
    return sorted(k for k in arrays if k in dup)


def convert_checkpoint(src, dst, weights_only=False):
    """Rewrite the checkpoint ``src`` (either format) as a MindSpore checkpoint ``dst``; returns ``dst``'s meta.

    ``weights_only`` drops the optimizer state (``train/``): a smaller file for inference and deployment, which
    ``--resume`` refuses.
    """
    arrays, meta = load_checkpoint(src)
    for key in legacy_duplicates(arrays):
        arrays.pop(key)
    if weights_only:
        arrays = {k: v for k, v in arrays.items() if not k.startswith("train/")}
    meta = dict(meta)
    meta["converted_from"] = meta.get("format")
    meta["weights_only"] = bool(weights_only or meta.get("weights_only", False))
    save_checkpoint(dst, arrays, meta)
    return read_meta(dst)


def main(argv=None, prog="python -m applications.nequip.checkpoint convert"):
    """``mindchemistry-nequip convert SRC DST``: rewrite a checkpoint in the current format."""
    from applications.nequip.cli import Parser, run

    parser = Parser(prog=prog,
                    description="Convert a NequIP checkpoint of the earlier npz format to a MindSpore checkpoint.")
    parser.add_argument("src", help="checkpoint to read (npz or MindSpore format)")
    parser.add_argument("dst", help="MindSpore checkpoint to write (.ckpt)")
    parser.add_argument("--force", action="store_true", help="overwrite DST")
    parser.add_argument("--weights-only", action="store_true",
                        help="leave out the optimizer state (for inference and deployment; cannot be resumed)")

    def body(args):
        if os.path.abspath(args.src) == os.path.abspath(args.dst):
            raise ValueError("convert: SRC and DST are the same file; write to a new name, then rename it")
        if os.path.exists(args.dst) and not args.force:
            raise ValueError(f"convert: {args.dst} exists (pass --force to overwrite it)")
        meta = convert_checkpoint(args.src, args.dst, args.weights_only)
        print(f"wrote {args.dst} (format {meta['format']}, from {meta.get('converted_from')}, "
              f"epoch {meta.get('epoch', '?')}{', weights only' if args.weights_only else ''}, "
              f"{os.path.getsize(args.dst) / 1e6:.2f} MB)")
        return 0

    return run(parser, body, argv)


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv and argv[0] == "convert":
        argv = argv[1:]
    sys.exit(main(argv))
