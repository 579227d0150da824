"""`convert-tile-to-chewbacca`: unroll the tile loops and emit one `chewbacca` op per instruction.

The ISA has no loops: every `scf.for` is unrolled as the function is walked once, in order, each
iteration with its induction variable and index arithmetic evaluated to numbers (no loop body is
copied in the IR).
Each tile op then becomes its instructions (`dialects/tile_to_isa.py`, shared with the tile
interpreter); configuration instructions that would rewrite registers with the values they already
hold are dropped.  Buffers become addresses (their `tile-buffer-alloc` offsets); constants become
`chewbacca.data`, host steps `chewbacca.host_step` + HOST, and the program ends with END.

Semantics preserved: executing the instruction stream leaves in DRAM exactly what the tile program
leaves in its buffers, since each op maps to instructions whose semantics define the op's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xdsl.builder import Builder
from xdsl.context import Context
from xdsl.dialects import arith, func, scf
from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, ModuleOp, StringAttr
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint

from compiler.passes.common import INDEX_ARITH, functions, module_machine, replace_body
from dialects import chewbacca, tile
from dialects.bnn import ONNX_NODE
from dialects.tile_to_isa import host_step, instructions
from isa.errors import ChewcError
from isa.instruction import Instruction

def base_address(buf: SSAValue) -> int:
    op = buf.owner
    assert isinstance(op, tile.AllocOp | tile.ConstOp)
    if op.offset is None:
        raise ChewcError(f"buffer '{op.label.data}' has no address: run tile-buffer-alloc before convert-tile-to-chewbacca")
    return op.offset.value.data


@dataclass
class Emitter:
    builder: Builder
    registers: dict[str, int]
    host_steps: int = 0

    def instruction(self, ins: Instruction, node: Attribute | None = None) -> None:
        """Emit `ins` (a configuration the registers already hold is dropped), carrying its ONNX node."""
        if ins.op.cls == "config":
            values = ins.as_dict()
            if all(self.registers.get(k) == v for k, v in values.items()):
                return  # the registers already hold these values
            self.registers.update(values)
        op = chewbacca.InstructionOp.from_instruction(ins)
        if node is not None:
            op.attributes[ONNX_NODE] = node
        self.builder.insert(op)

    def host_step(self, op: tile.HostOp) -> int:
        step = self.host_steps
        self.host_steps += 1
        payload = host_step(op, base_address).payload().decode("ascii")
        self.builder.insert(chewbacca.HostStepOp.build(
            properties={"step": IntegerAttr(step, 64), "payload": StringAttr(payload)}))
        return step


def convert_function(fn: func.FuncOp) -> None:
    old = fn.body.block
    new = Block(arg_types=[a.type for a in old.args])
    emit = Emitter(Builder(InsertPoint.at_end(new)), {})
    results: dict[SSAValue, SSAValue] = {}
    # index values of the iteration being emitted: loop variables and arith results, set as the walk
    # reaches them (a body's values are rewritten by each iteration before they are read)
    env: dict[SSAValue, int] = {}

    def index_value(v: SSAValue) -> int:
        if v not in env:
            raise ChewcError(f"convert-tile-to-chewbacca: cannot compute the index {v} (defined by "
                             f"{getattr(v.owner, 'name', 'a block argument')})")
        return env[v]

    def walk(ops: Iterable[Operation]) -> None:
        for op in ops:
            if isinstance(op, scf.ForOp):
                if op.iter_args:
                    raise ChewcError("convert-tile-to-chewbacca: the loops of a tile program carry no values")
                iv, step = op.body.block.args[0], index_value(op.step)
                if step <= 0:
                    raise ChewcError(f"convert-tile-to-chewbacca: an scf.for steps by {step}; steps must be positive")
                for i in range(index_value(op.lb), index_value(op.ub), step):
                    env[iv] = i
                    walk(op.body.block.ops)
            elif isinstance(op, scf.YieldOp | tile.AllocOp):
                continue  # buffers became addresses
            elif isinstance(op, arith.ConstantOp):
                assert isinstance(op.value, IntegerAttr)
                env[op.result] = op.value.value.data
            elif type(op) in INDEX_ARITH:
                env[op.results[0]] = INDEX_ARITH[type(op)](index_value(op.operands[0]), index_value(op.operands[1]))  # type: ignore[index]
            elif isinstance(op, tile.ConstOp):
                emit.builder.insert(chewbacca.DataOp.build(properties={
                    "label": op.label, "dram": IntegerAttr(base_address(op.buffer), 64), "data": op.data}))
            elif isinstance(op, tile.WriteOp):
                emit.builder.insert(chewbacca.InputOp(new.args[old.args.index(op.value)], _tensor_name(fn, 0, "bnn.inputs"),
                                                      base_address(op.buffer), op.desc.shape, op.desc.dtype.data))
            elif isinstance(op, tile.ReadOp):
                out = emit.builder.insert(chewbacca.OutputOp(op.value.type, _tensor_name(fn, len(results), "bnn.outputs"),
                                                             base_address(op.buffer), op.desc.shape, op.desc.dtype.data))
                results[op.value] = out.value
            elif isinstance(op, tile.ProbeOp):
                emit.builder.insert(chewbacca.ProbeOp.build(properties={
                    "tensor": op.tensor, "mem": StringAttr(tile.space_of(op.buffer)),
                    "addr": IntegerAttr(base_address(op.buffer), 64),
                    "shape": ArrayAttr(IntegerAttr(d, 64) for d in op.desc.shape), "dtype": op.desc.dtype}))
            elif isinstance(op, tile.LayerOp):
                emit.builder.insert(chewbacca.LayerOp.build(properties=dict(op.properties)))
            elif isinstance(op, func.ReturnOp):
                emit.instruction(Instruction.make("END"))
                emit.builder.insert(func.ReturnOp(*[results[v] for v in op.arguments]))
            elif op.dialect_name() == "arith":
                continue  # not index arithmetic chewc folds: an error only if an instruction reads it
            else:
                for ins in instructions(op, index_value, base_address, emit.host_step):
                    emit.instruction(ins, op.attributes.get(ONNX_NODE))

    walk(old.ops)
    replace_body(fn, new)


def _tensor_name(fn: func.FuncOp, i: int, attr: str) -> str:
    """The ONNX tensor name, made a valid .chew name (e.g. '60' -> 't60')."""
    names = fn.attributes.get(attr)
    raw = names.data[i].data if names is not None and i < len(names.data) else f"t{i}"  # type: ignore[union-attr]
    clean = "".join(c if c.isalnum() or c in "_." else "_" for c in raw)
    return clean if clean[:1].isalpha() or clean[:1] == "_" else f"t{clean}"


@dataclass(frozen=True)
class ConvertTileToChewbaccaPass(ModulePass):
    """Lower every function from `tile` (buffers placed) to `chewbacca` instructions."""

    name = "convert-tile-to-chewbacca"
    machine: str | None = None  # a machine description replacing the module's (the op verifiers check it)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        module_machine(op, self.machine)
        for fn in functions(op):
            convert_function(fn)
