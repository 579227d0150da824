"""How far chewc's schedules are from their lower bounds: off-chip traffic and cycles per network.

    python benchmarks/schedules.py [--only cnv,lfc,resnet18,groupnet8] [--size 224] [--layers]
                                   [--machine chewbaccann,packed]

For each network on each machine (default: the chip as published): the DRAM bits one inference moves (the emulator's count)
against the layer-wise compulsory traffic of `compiler.bounds` (each layer's constants, input and
output maps once), and the cycles against the cycle bound (per layer the longer of the array cycles
at full lane use for its kernel size and the compulsory traffic at the DMA's rate), with utilisation
and energy. ResNet-18 and Group-Net x 8 are generated with `examples/resnets.py`. Costs do not depend
on the input; one seeded input is run. `--layers` adds each network's per-layer table (the run report's,
achieved against each layer's bound). `--machine chewbaccann,packed` compares the chip with and without
the [A] tap-packing extension (`isa/machines/packed.toml`), which raises small kernels' window use.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples"))

import resnets  # noqa: E402

from compiler.bounds import layer_bounds  # noqa: E402
from compiler.driver import compile_model  # noqa: E402
from isa.errors import ChewcError  # noqa: E402
from isa.machine import load_machine  # noqa: E402
from runtime.datasets import get_real_model  # noqa: E402
from runtime.emulator import emulate  # noqa: E402

NETWORKS = {"cnv": "cnv", "lfc": "lfc", "resnet18": ("resnet18", 1), "groupnet8": ("groupnet", 8)}


def model_path(name: str, size: int, work: Path) -> Path:
    spec = NETWORKS[name]
    if isinstance(spec, str):
        return get_real_model(spec).path()
    arch, bases = spec
    path = work / f"{name}_{size}.onnx"
    path.write_bytes(resnets.builder(arch, size, bases).onnx().SerializeToString())
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(NETWORKS), help=f"comma-separated, of {', '.join(NETWORKS)}")
    p.add_argument("--size", type=int, default=224, help="input size of the generated ResNets")
    p.add_argument("--layers", action="store_true", help="print each network's per-layer table too")
    p.add_argument("--machine", default="chewbaccann", help="comma-separated machine descriptions (names or files)")
    args = p.parse_args(argv)
    names = args.only.split(",")
    if any(n not in NETWORKS for n in names):
        p.error(f"unknown network in {args.only!r} (known: {', '.join(NETWORKS)})")
    try:
        machines = [load_machine(m) for m in args.machine.split(",")]
    except ChewcError as e:
        p.error(str(e))
    console = Console(width=180)
    table = Table(title="schedules against their bounds, each machine at its reference voltage")
    for col in ("network", "machine", "DRAM bits", "bound", "ratio", "cycles", "array bound", "cycle bound", "ratio",
                "utilisation", "core", "system"):
        table.add_column(col, justify="left" if col == "network" else "right")
    with tempfile.TemporaryDirectory(prefix="chewc-schedules-") as tmp:
        for name, (m, machine) in itertools.product(names, zip(args.machine.split(","), machines, strict=True)):
            path = model_path(name, args.size, Path(tmp))
            c = compile_model(path, machine_path=m)
            assert c.program is not None
            bound = layer_bounds(compile_model(path, "bnn", machine_path=m, stop_after="bnn-decompose-kernels").module)
            desc = c.program.inputs[0]
            report = emulate(c.program, np.random.default_rng(0).random(desc.shape, dtype=np.float32)).report
            dram = report.traffic_bits["dram"]["read"] + report.traffic_bits["dram"]["write"]
            cycles = bound.cycles(c.machine)
            table.add_row(name, machine.name, f"{dram / 1e6:,.2f} M", f"{bound.traffic_bits / 1e6:,.2f} M",
                          f"{dram / bound.traffic_bits:.2f}x", f"{report.cycles:,}", f"{bound.cycle_bound:,.0f}",
                          f"{cycles:,.0f}", f"{report.cycles / cycles:.2f}x", f"{100 * report.utilisation:.1f}%",
                          f"{report.core_energy_j * 1e6:,.1f} uJ", f"{report.system_energy_j * 1e6:,.1f} uJ")
            if args.layers:
                console.print(f"{name} on {machine.name}")
                console.print(report.layers_table())
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
