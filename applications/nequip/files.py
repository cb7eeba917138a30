"""Output files of the NequIP application: strict JSON (``null`` for absent or non-finite values) and atomic
writes (a temporary file in the same folder, flushed, then renamed over the target).

>>> json_safe({"a": float("nan"), "b": [1.5, float("inf")], "c": np.float32(2.0)})
{'a': None, 'b': [1.5, None], 'c': 2.0}
"""
import json
import math
import os
import tempfile

import numpy as np

__all__ = ["json_safe", "dumps", "write_json", "atomic_write", "atomic_path"]


def json_safe(obj):
    """``obj`` with numpy scalars and arrays as Python values and NaN / inf as None (valid, strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def dumps(obj, indent=2):
    """Strict JSON text of ``obj`` (see :func:`json_safe`); raises on anything JSON cannot hold."""
    return json.dumps(json_safe(obj), indent=indent, allow_nan=False)


class atomic_path:  # pylint: disable=invalid-name
    """Context manager yielding a temporary path next to ``path``; renamed over ``path`` on success, removed on
    error (an interrupted write leaves the previous file, never a partial one).

    >>> import tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> with atomic_path(target) as tmp:
    ...     _ = open(tmp, "w").write("hi")
    >>> open(target).read()
    'hi'
    """

    def __init__(self, path, suffix=""):
        self.path = os.path.abspath(path)
        self.suffix = suffix or os.path.splitext(path)[1]
        self.tmp = None

    def __enter__(self):
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=".tmp-", suffix=self.suffix, dir=directory)
        os.close(fd)
        return self.tmp

    def __exit__(self, etype, value, tb):
        if etype is None:
            with open(self.tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)
        return False


def atomic_write(path, text):
    """Write ``text`` (str) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)


def write_json(path, obj):
    """Write ``obj`` as strict JSON to ``path`` atomically."""
    atomic_write(path, dumps(obj) + "\n")
