"""Checkpoints of the NequIP application: one ``.npz`` file, written atomically, read with clear errors.

A checkpoint holds named numpy arrays (model weights, EMA weights, optimizer state) and a JSON document
(``meta``: format version, config, data statistics, trainer state). It is written to a temporary file in the same
directory, flushed to disk, then renamed over the target (``os.replace`` is atomic on POSIX), so an interrupted
run leaves either the previous checkpoint or the new one, never a broken file. Reading checks the zip CRCs and
the format and raises ``ValueError`` naming the file for anything wrong.

>>> import numpy as np, os, tempfile
>>> p = os.path.join(tempfile.mkdtemp(), "a.ckpt")
>>> save_checkpoint(p, {"w": np.ones(2)}, {"epoch": 3})
>>> arrays, meta = load_checkpoint(p)
>>> arrays["w"].tolist(), meta["epoch"]
([1.0, 1.0], 3)
"""
import json
import os
import tempfile
import zipfile

import numpy as np

__all__ = ["save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "mindchemistry_e3.nequip/1"
_META = "__meta__"


def save_checkpoint(path, arrays, meta):
    """Write ``arrays`` (name -> numpy array) and ``meta`` (JSON-serialisable dict) to ``path`` atomically."""
    if _META in arrays:
        raise ValueError(f"save_checkpoint: {_META!r} is a reserved array name")
    meta = dict(meta)
    meta["format"] = CHECKPOINT_FORMAT
    payload = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".ckpt", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **{_META: payload}, **{k: np.asarray(v) for k, v in arrays.items()})
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path):
    """Read a checkpoint: ``(arrays, meta)``. ValueError for a missing, truncated, corrupt or foreign file."""
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            names = list(f.files)
            if _META not in names:
                raise ValueError(f"{path} is not a NequIP checkpoint of this application (no metadata)")
            arrays = {k: f[k] for k in names if k != _META}
            meta = json.loads(bytes(f[_META]).decode("utf-8"))
    except ValueError as err:
        if "not a NequIP checkpoint" in str(err):
            raise
        raise ValueError(f"checkpoint {path} is corrupt or not a checkpoint: {err}") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, UnicodeDecodeError) as err:
        raise ValueError(f"checkpoint {path} is corrupt or truncated: {type(err).__name__}: {err}") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path} has format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
    return arrays, meta
