"""chewc-run --plot: a run's per-layer energy by component (stacked) and utilisation, as a PNG; with
--sweep-vdd also energy and latency per inference over the operating points.

matplotlib is the optional extra `[plot]`; it is imported only when a plot is asked for.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from isa.errors import ChewcError
from runtime.report import Report


def plot_layers(report: Report, sweep: Sequence[tuple[float, Report, str]] = ()) -> bytes:
    """The PNG: per layer (named by its ONNX nodes), stacked energy by component, and window utilisation;
    `sweep` (vdd, its report, the basis of its frequency and leakage) adds a panel over the voltages."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no screen: render to memory
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ChewcError("--plot needs matplotlib: pip install 'chewc[plot]'") from e
    rows = [r for r in report.layers if r.kind != "host"]
    if not rows:
        raise ChewcError("--plot: the program has no accelerator layers to plot")
    names = [(", ".join(r.onnx_nodes[-2:]) or r.layer) for r in rows]
    parts = [p for p in report.energy_j if any(r.energy_j.get(p, 0.0) for r in rows)]
    panels = 3 if sweep else 2
    fig = plt.figure(figsize=(max(8.0, 0.35 * len(rows) + 3), 4 * panels))
    top = fig.add_subplot(panels, 1, 1)
    bottom = fig.add_subplot(panels, 1, 2, sharex=top)
    top.tick_params(labelbottom=False)  # the layers are named once, under the lower panel
    x = range(len(rows))
    base = [0.0] * len(rows)
    for part in parts:
        values = [r.energy_j.get(part, 0.0) * 1e6 for r in rows]
        top.bar(x, values, bottom=base, label=part)
        base = [b + v for b, v in zip(base, values, strict=True)]
    top.set_ylabel("energy per inference (uJ)")
    top.set_title(f"{report.machine} at {report.vdd:g} V: system energy {report.system_energy_j * 1e6:,.2f} uJ")
    top.legend(fontsize="small", ncol=2)
    bottom.bar(x, [100 * r.utilisation for r in rows], color="tab:gray", label="MAC utilisation")
    bottom.plot(x, [100 * r.window_use for r in rows], "o", color="tab:red", label="window use")
    bottom.set_ylabel("%")
    bottom.set_ylim(0, 100)
    bottom.legend(fontsize="small")
    bottom.set_xticks(list(x), names, rotation=75, ha="right", fontsize="small")
    if sweep:
        _sweep_panel(fig.add_subplot(panels, 1, 3), sweep)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100, metadata={"Software": None})  # no version string: reproducible bytes
    plt.close(fig)
    return out.getvalue()


def _sweep_panel(ax, sweep: Sequence[tuple[float, Report, str]]) -> None:  # noqa: ANN001 (a matplotlib Axes)
    """Core energy and latency per inference against vdd; hollow markers where the point is assumed."""
    vdds = [v for v, _, _ in sweep]
    ax.plot(vdds, [r.core_energy_j * 1e6 for _, r, _ in sweep], "-", color="tab:blue")
    late = ax.twinx()
    late.plot(vdds, [r.seconds * 1e6 for _, r, _ in sweep], "--", color="tab:orange")
    for v, r, basis in sweep:
        face = dict(markerfacecolor="none") if basis != "stated" else {}
        ax.plot([v], [r.core_energy_j * 1e6], "o", color="tab:blue", **face)
        late.plot([v], [r.seconds * 1e6], "s", color="tab:orange", **face)
    ax.set_xlabel("vdd (V)")
    ax.set_ylabel("core energy per inference (uJ)", color="tab:blue")
    late.set_ylabel("latency (us)", color="tab:orange")
    ax.set_title("operating points (filled: stated; hollow: assumed or interpolated [A])")
