"""What each `tile` op is in machine instructions: the single definition shared by the conversion
pass (`convert-tile-to-chewbacca`) and the `tile` interpreter, so both agree by construction.

Given the values of the op's index operands and the base address of each buffer, an op becomes the
configuration instructions it needs (CFG.*: the registers its instruction reads) and the instruction
itself.  The conversion pass drops configuration that repeats the registers' current values.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from xdsl.ir import SSAValue

from dialects import tile
from isa.container import HostStep, HostTensor
from isa.instruction import Instruction

Value = Callable[[SSAValue], int]


def _cfg(mnemonic: str, **fields: int | str) -> Instruction:
    return Instruction.make(mnemonic, **fields)


def window_config(g: tile.GeometryValues, buf_row0: int, dilation: int, pad_mode: str, pack: int = 0) -> list[Instruction]:
    return [
        _cfg("CFG.IN", in_h=g["in_h"], in_w=g["in_w"], in_c=g["in_c"]),
        _cfg("CFG.BUF", buf_row0=buf_row0, buf_rows=g["buf_rows"]),
        _cfg("CFG.K", kh=g["kh"], kw=g["kw"], stride=g["stride"], dilation=dilation, pad_top=g["pad_top"],
             pad_left=g["pad_left"], pad_mode=pad_mode, pack=pack),
    ]


def conv_config(g: tile.GeometryValues, buf_row0: int, row0: int) -> list[Instruction]:
    """The registers a CONV of geometry `g` reads (also what `compiler.mapping` prices)."""
    return [
        *window_config(g, buf_row0, g["dilation"], g["pad_mode"], g["pack"]),
        _cfg("CFG.OUT", out_h=g["out_h"], out_w=g["out_w"], obuf_rows=g["nrows"]),
        _cfg("CFG.TILE", row0=row0, nrows=g["nrows"], oc_count=g["oc_count"]),
    ]


def threshold_config(g: tile.GeometryValues) -> list[Instruction]:
    return [
        _cfg("CFG.OUT", out_h=g["nrows"], out_w=g["out_w"], obuf_rows=g["obuf_rows"]),
        _cfg("CFG.TILE", row0=0, nrows=g["nrows"], oc_count=g["oc_count"]),
    ]


def pool_config(g: tile.GeometryValues, buf_row0: int, row0: int) -> list[Instruction]:
    return [
        *window_config(g, buf_row0, g["dilation"], "gate"),
        _cfg("CFG.OUT", out_h=g["out_h"], out_w=g["out_w"], obuf_rows=g["obuf_rows"]),
        _cfg("CFG.TILE", row0=row0, nrows=g["nrows"], oc_count=g["in_c"]),
    ]


def add_config(g: tile.GeometryValues) -> list[Instruction]:
    """ADD's registers are THRESH's, its output rows packed (obuf_rows = nrows)."""
    return threshold_config({**g, "obuf_rows": g["nrows"]})


def dma_config(count: int, dram_stride: int, chip_stride: int) -> Instruction:
    return _cfg("CFG.DMA", count=count, dram_stride=dram_stride, chip_stride=chip_stride)


def instructions(op: object, value: Value, addr: Value, host_step: Callable[[tile.HostOp], int]) -> list[Instruction]:
    """The instructions of one tile op; `addr(buffer)` is its base address, `value(index)` an index's value."""
    def at(buf: SSAValue, off: SSAValue) -> int:
        return addr(buf) + value(off)

    if isinstance(op, tile.DmaOp):
        load = tile.space_of(op.src) == "dram"
        dram_buf, dram_off, chip_buf, chip_off = (
            (op.src, op.src_off, op.dst, op.dst_off) if load else (op.dst, op.dst_off, op.src, op.src_off)
        )
        d_stride, c_stride = (op.src_stride, op.dst_stride) if load else (op.dst_stride, op.src_stride)
        return [
            dma_config(op.count.value.data, d_stride.value.data, c_stride.value.data),
            _cfg("DMA.LD" if load else "DMA.ST", mem=tile.space_of(chip_buf), dram=at(dram_buf, dram_off),
                 chip=at(chip_buf, chip_off), length=op.length.value.data),
        ]
    if isinstance(op, tile.SyncOp):
        return [_cfg("SYNC")]
    if isinstance(op, tile.ConvOp):
        g = op.geometry
        fields = dict(fmem=at(op.input, op.in_off), wmem=at(op.weights, op.w_off), acc=at(op.acc, op.acc_off),
                      accumulate=g["accumulate"])
        shift = g["shift"]
        return [
            *conv_config(g, value(op.buf_row0), value(op.row0)),
            _cfg("CONV.S", **fields, shift=shift) if shift else _cfg("CONV", **fields),
        ]
    if isinstance(op, tile.ThresholdOp):
        g = op.geometry
        return [
            *threshold_config(g),
            _cfg("THRESH", acc=at(op.acc, op.acc_off), fmem=at(op.output, op.out_off), tmem=at(op.thresholds, op.t_off),
                 c0=value(op.c0)),
        ]
    if isinstance(op, tile.PoolOp):
        g = op.geometry
        bits = tile.space_of(op.input) == "fmem"
        return [
            *pool_config(g, value(op.buf_row0), value(op.row0)),
            _cfg("POOL.B" if bits else "POOL.I", src=at(op.input, op.in_off), dst=at(op.output, op.out_off)),
        ]
    if isinstance(op, tile.AddOp):
        g = op.geometry
        return [
            *add_config(g),
            _cfg("ADD", a=at(op.lhs, op.lhs_off), b=at(op.rhs, op.rhs_off), dst=at(op.output, op.out_off)),
        ]
    if isinstance(op, tile.HostOp):
        return [_cfg("HOST", step=host_step(op))]
    raise AssertionError(f"no instructions for {op}")


def host_step(op: tile.HostOp, addr: Value) -> HostStep:
    """The host step a `tile.host` stands for, with its tensors at their DRAM addresses."""

    def tensors(names, descs, bufs) -> tuple[HostTensor, ...]:  # noqa: ANN001
        return tuple(
            HostTensor(n.data, d.dtype.data, d.shape, addr(b), d.zero.data)
            for n, d, b in zip(names.data, descs.data, bufs, strict=True)
        )

    return HostStep(op.reason.data, base64.b64decode(op.onnx.data), tensors(op.in_names, op.in_descs, op.ins),
                    tensors(op.out_names, op.out_descs, op.outs), op.bit_planes())
