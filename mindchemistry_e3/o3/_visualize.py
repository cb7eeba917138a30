r"""``TensorProduct.visualize``: e3nn's drawing of the paths of a tensor product (matplotlib).

The inputs sit on two sides of a hexagon and the outputs on a third; each instruction is a line from its two
input irreps to their meeting point and on to its output irrep -- coloured by the mean square of the path's
weights (``plot_weight``; black for paths without weights), else green (weighted) / black.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from mindchemistry_e3.o3 import FullyConnectedTensorProduct
>>> fig, ax = FullyConnectedTensorProduct("2x0e + 1o", "1o", "0e + 1o").visualize()
>>> len(ax.patches)                    # the hexagon and one line per path (0e x 1o -> 1o, 1o x 1o -> 0e)
3
"""
import numpy as np

__all__ = ["visualize"]


def _meeting_point(x, u, y, v):
    """The point of the line through ``y`` along ``v`` closest to the line through ``x`` along ``u``."""
    u2, v2, uv = np.sum(u * u), np.sum(v * v), np.sum(u * v)
    mu = np.sum((u * uv - v * u2) * (y - x)) / (u2 * v2 - uv ** 2)
    return y + mu * v


def _points_on(a, b, n):
    return [a + (i + 1) / (n + 1) * (b - a) for i in range(n)]


def _label(mul_ir):
    return f"${mul_ir.ir}$" if mul_ir.mul == 1 else f"${mul_ir.mul} \\times {mul_ir.ir}$"


def visualize(tp, weight=None, plot_weight=True, aspect_ratio=1, ax=None):
    r"""Draw the connectivity of the tensor product ``tp`` (e3nn's ``TensorProduct.visualize``).

    Args:
        tp (TensorProduct): the product (as method: ``tp.visualize(...)``).
        weight (Tensor, optional): weights as for the call; default: the internal ones.
        plot_weight (bool): colour the paths by the mean square of their weights. Default: True.
        aspect_ratio (float or str): width / height of the drawing, or ``'auto'``. Default: 1.
        ax (matplotlib.axes.Axes, optional): where to draw; default: the current axes.

    Returns:
        ``(fig, ax)``.

    Raises:
        ValueError: an ``aspect_ratio`` that is neither a number nor ``'auto'``.
    """
    import matplotlib  # pylint: disable=import-outside-toplevel
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    from matplotlib import patches  # pylint: disable=import-outside-toplevel
    from matplotlib.path import Path  # pylint: disable=import-outside-toplevel

    if not (aspect_ratio == "auto" or isinstance(aspect_ratio, (float, int))):
        raise ValueError(f"aspect_ratio must be 'auto' or a float or int, got {aspect_ratio!r}")
    if ax is None:
        ax = plt.gca()
    fig = ax.get_figure()
    n1, n2, n_out = len(tp.irreps_in1), len(tp.irreps_in2), len(tp.irreps_out)
    verts = np.array([[np.cos(a * np.pi / 3), np.sin(a * np.pi / 3)] for a in range(6)])
    if aspect_ratio == "auto":
        height, width = max(n1, n2), n_out
        height = max(height, width / 2)
        verts *= np.array([width, height]) * 0.1
    else:
        factor = 0.1 * max(n1, n2, n_out)
        verts *= np.array([aspect_ratio * factor, factor])
    side = [Path.MOVETO, Path.LINETO] * 3
    ax.add_patch(patches.PathPatch(Path(verts, side), facecolor="none", lw=1, zorder=2))

    c_in1, s_in1 = (verts[2] + verts[3]) / 2, _points_on(verts[3], verts[2], n1)
    c_in2, s_in2 = (verts[0] + verts[1]) / 2, _points_on(verts[1], verts[0], n2)
    s_out = _points_on(verts[4], verts[5], n_out)

    if weight is None and not tp.internal_weights:
        plot_weight = False
    if plot_weight:
        strength = np.array([float((tp.weight_view_for_instruction(i, weight).asnumpy() ** 2).mean())
                             if ins.has_weight else 0.0 for i, ins in enumerate(tp.instructions)])
        strength = strength / max(np.abs(strength).max(), 1e-300)
    cmap = matplotlib.colormaps["Blues"]
    for i, ins in enumerate(tp.instructions):
        meet = _meeting_point(s_in1[ins.i_in1], c_in1, s_in2[ins.i_in2], c_in2)
        path = Path([s_out[ins.i_out], meet, s_in1[ins.i_in1], meet, s_in2[ins.i_in2], meet], side)
        if plot_weight:
            color = cmap(0.5 + 0.5 * strength[i]) if ins.has_weight else "black"
        else:
            color = "green" if ins.has_weight else "black"
        ax.add_patch(patches.PathPatch(path, facecolor="none", edgecolor=color, alpha=0.5, ls="-", lw=1.5))

    for points, irreps, style in ((s_in1, tp.irreps_in1, dict(horizontalalignment="right", xytext=(-3, 0))),
                                  (s_in2, tp.irreps_in2, dict(horizontalalignment="left", xytext=(3, 0))),
                                  (s_out, tp.irreps_out, dict(horizontalalignment="center", verticalalignment="top",
                                                              rotation=90, xytext=(0, -3)))):
        for point, mul_ir in zip(points, irreps):
            ax.annotate(_label(mul_ir), point, textcoords="offset points", fontsize=10, **style)
    ax.set_xlim(-2, 2)
    ax.set_ylim(-2, 2)
    ax.axis("equal")
    ax.axis("off")
    return fig, ax
