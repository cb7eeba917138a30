"""MindSpore's compile cache, made safe: compile once per machine, not once per process.

MindSpore 2.10 (``enable_compile_cache`` / ``MS_COMPILER_CACHE_ENABLE``) saves every graph a process compiles as
``<folder>/rank_<r>/graph_cache/compile_cache_<i>.mindir`` where ``i`` counts the cached compiles of the process,
and a later process loads file ``i`` for its ``i``-th compile after checking only the source text of the entry
script and its imports. Measured (``tests/applications/nequip/test_compile_cache.py``): a graph compiled for
another input shape or another constant is loaded **silently** and gives wrong numbers; the folder is fixed by the
first setting of the process (changing it later has no effect). So this module

* compiles, with the cache on, exactly a **plan** (an ordered list of Cells and example inputs) and turns the
  cache off again, so nothing else is ever cached;
* uses a folder named by a hash of everything that enters those graphs: the graph settings the caller passes
  (model config, statistics, dtype, loss and optimizer settings, ...), the plan (which Cell, input shapes and
  dtypes, in order, and the native CPU kernel libraries each graph calls), the device, the versions of MindSpore, numpy and Python, and a hash of the source of
  ``mindchemistry_e3`` and ``applications.nequip`` — two processes share a folder only when they compile the
  same graphs in the same order;
* caches at most one plan per process (a second plan compiles uncached), locks the folder while it writes, and
  wipes a folder a killed process left half written;
* skips MindSpore's own check of the entry script (``MS_DEV_FORCE_USE_COMPILE_CACHE`` during the planned
  compiles), so ``python -m applications.nequip.train`` and ``mindchemistry-nequip train`` share entries: the
  key already covers the sources of both packages. Code outside them that changes their Cells (monkeypatching
  graph code) must switch the cache off.

The root folder is ``$NEQUIP_COMPILE_CACHE`` or ``~/.cache/mindchemistry_e3/compile`` (``--compile-cache DIR``
on the commands; ``off`` or ``--no-compile-cache`` disables it). Deleting it is always safe.

>>> resolve_root("off") is None, os.path.basename(resolve_root("/tmp/cc"))
(True, 'cc')
"""
import functools
import glob
import hashlib
import json
import os
import platform
import shutil
import sys
import time

__all__ = ["ENV", "resolve_root", "source_fingerprint", "cache_key", "compile_plan", "PlanItem"]

#: Environment variable: the cache root folder, or ``off``.
ENV = "NEQUIP_COMPILE_CACHE"
_OFF = ("off", "none", "0", "false", "no", "")
_MARKER = "complete.json"
_FORCE = "MS_DEV_FORCE_USE_COMPILE_CACHE"
#: the folder this process cached its plan in (MindSpore binds one folder per process)
_BOUND = {"folder": None}


def resolve_root(option=None, environ=None):
    """The cache root folder from a command-line value, else ``$NEQUIP_COMPILE_CACHE``, else the default
    (``$XDG_CACHE_HOME`` or ``~/.cache``, then ``mindchemistry_e3/compile``); None when switched off."""
    env = os.environ if environ is None else environ
    value = option if option is not None else env.get(ENV)
    if value is None:
        base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "mindchemistry_e3", "compile")
    if str(value).strip().lower() in _OFF:
        return None
    return os.path.abspath(os.path.expanduser(str(value)))


@functools.lru_cache(maxsize=1)
def source_fingerprint():
    """sha256 of every ``.py`` file of ``mindchemistry_e3`` and ``applications.nequip`` (paths and contents)."""
    import mindchemistry_e3
    import applications.nequip

    h = hashlib.sha256()
    for package in (mindchemistry_e3, applications.nequip):
        root = os.path.dirname(os.path.abspath(package.__file__))
        for folder, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    h.update(os.path.relpath(path, root).encode())
                    with open(path, "rb") as fh:
                        h.update(fh.read())
    return h.hexdigest()


class PlanItem:
    """One graph of a plan: a label for the log, the Cell and example inputs of the shapes it will run on."""

    def __init__(self, label, cell, inputs):
        self.label, self.cell, self.inputs = label, cell, tuple(inputs)

    def signature(self):
        """The Cell's class, the shapes and dtypes of the inputs (what selects a compiled graph) and the native
        kernel libraries its graph calls (none when built with ``native_kernels(False)``)."""
        from mindchemistry_e3.util._native import native_libraries

        return ([type(self.cell).__name__] + [f"{tuple(t.shape)}:{t.dtype}" for t in self.inputs]
                + [f"native:{path}" for path in native_libraries(self.cell)])


def cache_key(graph_settings, plan, device):
    """Hash of everything that enters the planned graphs (see the module docstring)."""
    import mindspore as ms
    import numpy as np

    doc = {"graph": graph_settings, "plan": [item.signature() for item in plan], "device": device,
           "mindspore": ms.__version__, "numpy": np.__version__, "python": platform.python_version(),
           "sources": source_fingerprint()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32], doc


def _lock(folder, rank, wait_s, log):
    """An exclusive lock on the folder (for this rank), waiting up to ``wait_s`` for a process that holds it (it is
    compiling the same graphs: loading them afterwards is faster than compiling them again); None on timeout."""
    import fcntl

    fh = open(os.path.join(folder, f".lock-rank{rank}"), "w")  # pylint: disable=consider-using-with
    deadline = time.monotonic() + wait_s
    waited = False
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except OSError:
            if time.monotonic() > deadline:
                fh.close()
                return None
            if not waited:
                log(f"compile cache: another process is compiling the same graphs into {folder}; waiting for it")
                waited = True
            time.sleep(0.5)


def _compile_all(plan, log, cached_files=None):
    times = []
    for i, item in enumerate(plan):
        hit = cached_files is not None and i in cached_files
        log(f"{'loading' if hit else 'compiling'} {item.label}…")
        t0 = time.perf_counter()
        item.cell.compile(*item.inputs)
        dt = time.perf_counter() - t0
        times.append(dt)
        how = ""
        if cached_files is not None:
            how = " (from the compile cache)" if hit else " (now in the compile cache)"
        log(f"{item.label} ready in {dt:.1f} s{how}")
    return times


def _is_file(path):
    return bool(path) and os.path.isfile(path)


def _entry_script_holder():
    """The MindSpore module whose ``entry_script_path`` its cache reads (it opens that file; a process started
    with ``python -c``, a REPL or an xdist worker has none, so a session points it at this module); None when
    this MindSpore keeps it elsewhere and there is no entry script file."""
    try:
        from mindspore.graph import api
    except ImportError:
        api = None
    if api is not None and hasattr(api, "entry_script_path"):
        return api
    return None if not sys.argv or not _is_file(os.path.realpath(sys.argv[0])) else _NoHolder()


class _NoHolder:  # pylint: disable=too-few-public-methods
    """Stands for the holder when the entry script exists and MindSpore keeps its path elsewhere."""

    entry_script_path = None


def compile_plan(plan, root=None, graph_settings=None, device="CPU", rank=0, log=print, wait_s=900.0):
    """Compile every graph of ``plan`` (a list of :class:`PlanItem`), through the compile cache under ``root``
    when it is not None; returns ``{"folder", "cached", "seconds"}`` (``seconds``: one per item).

    The cache is used only for the first plan of a process; a process writing the same folder is waited for (up to
    ``wait_s`` seconds); otherwise the graphs compile afresh (and the log says why).
    """
    import mindspore as ms

    if not plan:
        return {"folder": None, "cached": False, "seconds": []}
    if root is None:
        return {"folder": None, "cached": False, "seconds": _compile_all(plan, log)}
    key, doc = cache_key(graph_settings, plan, device)
    folder = os.path.join(root, key)
    api = _entry_script_holder()
    if api is None:
        log("compile cache: this process has no entry script file (python -c, interactive) and this MindSpore "
            "needs one; compiling without it")
        return {"folder": None, "cached": False, "seconds": _compile_all(plan, log)}
    if _BOUND["folder"] is not None:
        log("compile cache: this process already used it for other graphs (MindSpore binds one cache per "
            "process); compiling without it")
        return {"folder": None, "cached": False, "seconds": _compile_all(plan, log)}
    os.makedirs(folder, exist_ok=True)
    lock = _lock(folder, rank, wait_s, log)
    if lock is None:
        log(f"compile cache: {folder} is still being written by another process; compiling without it")
        return {"folder": None, "cached": False, "seconds": _compile_all(plan, log)}
    try:
        rank_dir = os.path.join(folder, f"rank_{rank}")
        marker = os.path.join(folder, f"{_MARKER[:-5]}-rank{rank}.json")
        if os.path.isdir(rank_dir) and not os.path.isfile(marker):
            shutil.rmtree(rank_dir)          # left half written by a process that was killed
        cached = {i for i in range(len(plan))
                  if glob.glob(os.path.join(rank_dir, "graph_cache", f"compile_cache_{i}.mindir"))}
        _BOUND["folder"] = folder
        forced = os.environ.get(_FORCE)
        os.environ[_FORCE] = "1"      # the key covers the sources: skip MindSpore's entry-script check
        entry = getattr(api, "entry_script_path", None)
        if not _is_file(entry):
            api.entry_script_path = os.path.abspath(__file__)   # MindSpore reads it even when the check is off
        ms.set_context(enable_compile_cache=True, compile_cache_path=folder)
        try:
            seconds = _compile_all(plan, log, cached)
        finally:
            ms.set_context(enable_compile_cache=False)
            api.entry_script_path = entry
            if forced is None:
                os.environ.pop(_FORCE, None)
            else:
                os.environ[_FORCE] = forced
        if not os.path.isfile(marker):
            with open(marker, "w", encoding="utf-8") as fh:
                json.dump({**doc, "labels": [item.label for item in plan]}, fh, indent=1, default=str)
    finally:
        lock.close()
    return {"folder": folder, "cached": bool(cached), "seconds": seconds}
