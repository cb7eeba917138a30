"""Process-wide MindSpore settings of the NequIP commands: device, CPU kernel threads, graph mode, quiet logs.

>>> import os
>>> setup(device=None)        # MindSpore's default device, graph mode
'CPU'
"""
import os

__all__ = ["setup", "select_device", "set_threads", "DEVICES"]

DEVICES = ("CPU", "Ascend", "GPU")


def select_device(device=None):
    """Run on ``device`` (``CPU``, ``Ascend`` or ``GPU``; None keeps MindSpore's default); returns the device.

    Raises:
        ValueError: an unknown device, or one this machine / MindSpore build does not offer.
    """
    import mindspore as ms

    if device is None:
        return ms.get_context("device_target")
    names = {d.lower(): d for d in DEVICES}
    if str(device).lower() not in names:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    device = names[str(device).lower()]
    if device == ms.get_context("device_target"):
        return device
    available = [d for d in DEVICES if ms.hal.is_available(d)]
    if device not in available:
        raise ValueError(f"device {device} is not available on this machine with MindSpore {ms.__version__} "
                         f"(available: {', '.join(available) or 'none'})")
    try:
        if os.environ.get("DEVICE_ID", "").isdigit():     # set per process by launchers (msrun, scripts)
            ms.set_device(device, int(os.environ["DEVICE_ID"]))
        else:
            ms.set_device(device)
    except RuntimeError as err:
        raise ValueError(f"device {device}: {str(err).splitlines()[0]}") from None
    return device


def set_threads(threads):
    """CPU kernel threads (MindSpore accepts this once per process; later calls are ignored)."""
    import mindspore as ms

    if not threads:
        return
    try:
        ms.device_context.cpu.op_tuning.threads_num(int(threads))
    except RuntimeError:
        pass


def setup(device=None, threads=None):
    """Graph mode on ``device`` with ``threads`` CPU kernel threads and MindSpore's warnings off (``GLOG_v=3``
    unless set); returns the device."""
    os.environ.setdefault("GLOG_v", "3")
    import mindspore as ms

    device = select_device(device)
    set_threads(threads)
    ms.set_context(mode=ms.GRAPH_MODE)
    return device
