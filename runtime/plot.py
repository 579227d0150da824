"""chewc-run --plot: a run's per-layer energy by component (stacked) and utilisation, as a PNG.

matplotlib is the optional extra `[plot]`; it is imported only when a plot is asked for.
"""

from __future__ import annotations

import io

from isa.errors import ChewcError
from runtime.report import Report


def plot_layers(report: Report) -> bytes:
    """The PNG: per layer (named by its ONNX nodes), stacked energy by component, and window utilisation."""
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
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8.0, 0.35 * len(rows) + 3), 8), sharex=True)
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
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100, metadata={"Software": None})  # no version string: reproducible bytes
    plt.close(fig)
    return out.getvalue()
