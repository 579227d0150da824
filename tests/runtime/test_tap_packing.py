"""The [A] tap-packing extension (`array.max_pack`, CFG.K pack): a small kernel's window cycle reads several
channel groups. The sums are those of plain CONVs; only the cycles change, and the compiler uses it where
the machine has it."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.bounds import layer_bounds
from compiler.driver import compile_model
from isa.asm import assemble
from isa.errors import ChewcError
from isa.machine import load_machine
from runtime.emulator import emulate
from tests.helpers import EXAMPLES

PACKED = load_machine("packed")

# A 3x3 convolution of a 64-channel (4-group) 6x6 map into 2 output channels, padded by gating.
PROGRAM = """
.input x bits[64,6,6] ghw @0x0
.output y int16[2,6,6] chw @0x200
CFG.DMA count=1 dram_stride=0 chip_stride=0
CFG.IN in_h=6 in_w=6 in_c=64
CFG.BUF buf_row0=0 buf_rows=6
CFG.K kh=3 kw=3 stride=1 dilation=1 pad_top=1 pad_left=1 pad_mode=gate{pack}
CFG.OUT out_h=6 out_w=6 obuf_rows=6
CFG.TILE row0=0 nrows=6 oc_count=2
DMA.LD mem=fmem dram=0x0 chip=0x0 length=144
DMA.LD mem=wmem dram=0x400 chip=0x0 length=72
SYNC
CONV fmem=0x0 wmem=0x0 acc=0x0 accumulate=0
DMA.ST mem=acc dram=0x200 chip=0x0 length=72
END
.data w @0x400
"""


def run(pack: int):  # noqa: ANN201
    words = np.random.default_rng(3).integers(0, 1 << 16, 72)
    text = PROGRAM.format(pack=f" pack={pack}" if pack else "") + "".join(f".word {w:#x}\n" for w in words)
    x = np.random.default_rng(4).choice([-1.0, 1.0], (64, 6, 6))
    return emulate(assemble(text, PACKED, "packing.s"), x, PACKED)


def test_packing_keeps_the_sums_and_divides_the_window_cycles() -> None:
    plain, packed = run(0), run(1)
    assert np.array_equal(plain.outputs["y"], packed.outputs["y"])
    # 4 groups, 2 per cycle: 2 passes of 6 rows x 2 channels x 6 columns
    assert plain.report.array_cycles == 4 * 6 * 2 * 6
    assert packed.report.array_cycles == 2 * 6 * 2 * 6
    assert packed.report.macs == plain.report.macs
    assert packed.report.packed_cycles == packed.report.array_cycles
    # the array's energy: a busy cycle less for each one saved, and the tap muxes on each packed one
    a, scale = PACKED.array, PACKED.energy_scale(plain.report.vdd)
    saved = (plain.report.array_cycles - packed.report.array_cycles) * a.cycle_energy
    assert plain.report.energy_j["array"] - packed.report.energy_j["array"] == pytest.approx(
        scale * (saved - packed.report.packed_cycles * a.pack_cycle_energy))


def test_a_window_holds_as_many_kernels_as_it_has_rows() -> None:
    with pytest.raises(ChewcError, match=r"CFG.K pack = 2 stacks 3 kernels of 3 rows in the 7-row window"):
        run(2)


# VGG's binary convs are 3x3 over an even number of groups: two per cycle halve their window cycles. The
# ResNet's first stage has one group per map (nothing to stack) and its later layers wait on weights.
@pytest.mark.parametrize(("name", "ratio"), [("vgg_cifar", 0.51), ("resnet18_32", 0.8)])
@pytest.mark.slow
def test_the_compiler_packs_small_kernels_where_the_machine_can(name: str, ratio: float) -> None:
    path = EXAMPLES / f"{name}.onnx"
    reports = {}
    for machine in ("chewbaccann", "packed"):
        c = compile_model(path, machine_path=machine)
        assert c.program is not None
        desc = c.program.inputs[0]
        reports[machine] = emulate(c.program, np.random.default_rng(0).random(desc.shape, dtype=np.float32)).report
        bound = layer_bounds(compile_model(path, "bnn", machine_path=machine, stop_after="bnn-decompose-kernels").module)
        assert reports[machine].array_cycles >= bound.cycle_bound
    plain, packed = reports["chewbaccann"], reports["packed"]
    assert packed.macs == plain.macs
    assert 0 < packed.packed_cycles <= packed.array_cycles
    assert packed.array_cycles <= ratio * plain.array_cycles
    assert packed.cycles < plain.cycles and packed.utilisation > plain.utilisation
