"""The `chewbacca` dialect: one op per machine instruction, generated from the ISA table.

`chewbacca.conv {fmem = 0, wmem = 128, acc = 0, accumulate = 1}` is the instruction CONV with those
fields; the op classes, their fields and their verifiers all come from `isa.table`, so the dialect can
never disagree with the encoder.  Verifiers check every field's range and that addresses lie inside
their memory of the machine the module's `chewbacca.machine` attribute carries (`MachineAttr`; the
default ChewBaccaNN model otherwise).  The ops execute with the emulator's semantics
(`runtime/chewbacca_interp.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    f64,
    i64,
)
from xdsl.ir import Attribute, Dialect, Operation, ParametrizedAttribute, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from isa.container import HostStep, TensorDesc, to_chw
from isa.errors import ChewcError
from isa.instruction import Instruction
from isa.machine import Machine, bundled_machine, load_machine
from isa.table import MEM_SELECT, OPS, Op

MACHINE_ATTR = "chewbacca.machine"


@irdl_attr_definition
class MachineAttr(ParametrizedAttribute):
    """The machine description a module is compiled for: its name, its identity (`Machine.hash()`, the
    sha256 of every value but the energies, checked against them) and, unless it is a bundled machine
    (`isa/machines/`) with all the same values, energies included, its description and every value by
    path.

    `#chewbacca.machine<"quarter", "861a...">` (bundled: the values come from `isa/machines/quarter.toml`),
    `#chewbacca.machine<"tiny-fmem", "3fa2...", "...", {array.window_h = 7 : i64, ...}>` (any other).
    Import attaches it to the module; every pass, interpreter and the emitter read it from there, so a
    dumped file or a reproducer carries its machine.  A pass given a `machine` option replaces it.
    """

    name = "chewbacca.machine"
    machine_name: StringAttr
    digest: StringAttr
    description: StringAttr
    values: DictionaryAttr  # empty for a bundled machine

    @staticmethod
    def of(machine: Machine) -> MachineAttr:
        name, digest = StringAttr(machine.name), StringAttr(machine.hash().hex())
        bundled = bundled_machine(machine.name)
        if bundled is not None and bundled.parameters == machine.parameters:  # energies too, not only the identity
            return MachineAttr(name, digest, StringAttr(""), DictionaryAttr({}))
        values: dict[str, Attribute] = {
            path: IntegerAttr(v, i64) if isinstance(v, int) else FloatAttr(v, f64) for path, v in machine.values().items()
        }
        return MachineAttr(name, digest, StringAttr(machine.description), DictionaryAttr(values))

    def machine(self) -> Machine:
        return _machine_from(self)

    def verify(self) -> None:
        try:
            m = _machine_from(self)
        except ChewcError as e:
            raise VerifyException(f"#{self.name}: {e}") from e
        if m.hash().hex() != self.digest.data:
            where = "the bundled description" if not self.values.data else "the parameters"
            raise VerifyException(
                f"#{self.name}: {where} of machine '{self.machine_name.data}' hash to {m.hash().hex()[:12]}..., "
                f"not {self.digest.data[:12]}... (changed since the module was made?)"
            )

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            name = StringAttr(parser.parse_str_literal())
            parser.parse_punctuation(",")
            digest = StringAttr(parser.parse_str_literal())
            if parser.parse_optional_punctuation(",") is None:
                return (name, digest, StringAttr(""), DictionaryAttr({}))
            description = StringAttr(parser.parse_str_literal())
            parser.parse_punctuation(",")
            values = parser.parse_attribute()
            if not isinstance(values, DictionaryAttr):
                parser.raise_error("expected a dictionary of machine parameters")
        return (name, digest, description, values)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string_literal(self.machine_name.data)
            printer.print_string(", ")
            printer.print_string_literal(self.digest.data)
            if self.values.data:
                printer.print_string(", ")
                printer.print_string_literal(self.description.data)
                printer.print_string(", ")
                printer.print_attribute(self.values)


@functools.lru_cache(maxsize=16)
def _machine_from(attr: MachineAttr) -> Machine:
    if not attr.values.data:
        bundled = bundled_machine(attr.machine_name.data)
        if bundled is None:
            raise ChewcError(f"no bundled machine '{attr.machine_name.data}' (and the attribute lists no parameters)")
        return bundled
    values: dict[str, int | float] = {}
    for path, v in attr.values.data.items():
        if isinstance(v, IntegerAttr | FloatAttr):
            values[path] = v.value.data
        else:
            raise ChewcError(f"machine parameter '{path}' is {v}, not a number")
    return Machine.from_values(attr.machine_name.data, attr.description.data, values, "the module's #chewbacca.machine")


def machine_of(op: Operation) -> Machine:
    """The machine the module holding `op` is compiled for (the default ChewBaccaNN model when the
    module names none, e.g. hand-written IR)."""
    top: Operation = op
    while (parent := top.parent_op()) is not None:
        top = parent
    attr = top.attributes.get(MACHINE_ATTR)
    return attr.machine() if isinstance(attr, MachineAttr) else _default_machine()


def set_machine(module: ModuleOp, machine: Machine) -> None:
    module.attributes[MACHINE_ATTR] = MachineAttr.of(machine)


@functools.lru_cache(maxsize=1)
def _default_machine() -> Machine:
    return load_machine()


class InstructionOp(IRDLOperation):
    """Base of the generated ops: converts to and from `isa.instruction.Instruction`."""

    ISA: ClassVar[Op]

    def instruction(self) -> Instruction:
        props = self.properties
        return Instruction.of(self.ISA, [
            f.default if v is None else v.data if isinstance(v, StringAttr) else v.value.data  # type: ignore[union-attr]
            for f, v in ((f, props.get(f.name)) for f in self.ISA.fields)
        ])

    @classmethod
    def from_instruction(cls, ins: Instruction) -> InstructionOp:
        props: dict[str, Attribute] = {}
        for f, v in zip(ins.op.fields, ins.values, strict=True):
            if v != f.default:  # an extension's field at its default is left out, as in assembly
                props[f.name] = _enum_attr(f.enum[v]) if f.enum else _int_attr(v)
        # `create`: the values were range-checked when `ins` was made, and the verifier checks them again
        return BY_MNEMONIC[ins.op.mnemonic].create(properties=props)

    def verify_(self) -> None:
        try:
            ins = self.instruction()
        except ChewcError as e:
            raise VerifyException(f"{self.name}: {e}") from e
        m = machine_of(self)
        for f, v in zip(ins.op.fields, ins.values, strict=True):
            mem = ins["mem"] if f.memory == MEM_SELECT else f.memory
            if mem is None:
                continue
            name = ins.op.field("mem").enum[mem] if isinstance(mem, int) else mem
            if v >= m.memory.words(name):
                raise VerifyException(
                    f"{self.name}: field '{f.name}' = {v:#x} is outside {name} ({m.memory.words(name)} words on '{m.name}')"
                )


# attributes are immutable values: a program's few thousand distinct field values are built once each
@functools.lru_cache(maxsize=1 << 16)
def _int_attr(v: int) -> IntegerAttr:
    return IntegerAttr(v, 64)


@functools.lru_cache(maxsize=256)
def _enum_attr(v: str) -> StringAttr:
    return StringAttr(v)


def op_name(mnemonic: str) -> str:
    return "chewbacca." + mnemonic.lower()


def class_name(mnemonic: str) -> str:
    return "".join(p.capitalize() for p in mnemonic.replace(".", "_").split("_")) + "Op"


def _define(isa_op: Op) -> type[InstructionOp]:
    body: dict[str, object] = {
        "name": op_name(isa_op.mnemonic),
        "ISA": isa_op,
        "__annotations__": {"ISA": ClassVar[Op]},
        "__doc__": f"{isa_op.mnemonic} ({isa_op.cls}): {isa_op.doc}",
        "assembly_format": "attr-dict",
        "irdl_options": (ParsePropInAttrDict(),),
        "__module__": __name__,
    }
    for f in isa_op.fields:
        kind = StringAttr if f.enum else IntegerAttr
        body[f.name] = prop_def(kind) if f.default is None else opt_prop_def(kind)
    return irdl_op_definition(type(class_name(isa_op.mnemonic), (InstructionOp,), body))


OP_CLASSES: tuple[type[InstructionOp], ...] = tuple(_define(o) for o in OPS)
BY_MNEMONIC: dict[str, type[InstructionOp]] = {c.ISA.mnemonic: c for c in OP_CLASSES}
globals().update({c.__name__: c for c in OP_CLASSES})

# ----------------------------------------------------------------------------------------------
# What a program holds besides code: DRAM data, host steps, and the input/output tensors
# ----------------------------------------------------------------------------------------------


def _desc_props(name: str, dram: int, shape: Sequence[int], dtype: str) -> dict[str, Attribute]:
    return {
        "tensor": StringAttr(name), "dram": IntegerAttr(dram, 64),
        "shape": ArrayAttr(IntegerAttr(int(d), 64) for d in shape), "dtype": StringAttr(dtype),
    }


def _tensor(op: IRDLOperation, addr: int, name: str | None = None) -> TensorDesc:
    """The tensor an input/output/probe op describes (name, dtype and shape checked by TensorDesc)."""
    props = op.properties
    shape = to_chw([a.value.data for a in props["shape"].data])  # type: ignore[union-attr]
    try:
        return TensorDesc(name or props["tensor"].data, props["dtype"].data, shape, addr)  # type: ignore[union-attr]
    except ChewcError as e:
        raise VerifyException(f"{op.name}: {e}") from e


def _check_dram(op: IRDLOperation, addr: int, words: int) -> None:
    m = machine_of(op)
    if addr < 0 or addr + words > m.memory.dram.words:
        raise VerifyException(f"{op.name}: DRAM words {addr:#x}..{addr + words - 1:#x} lie outside DRAM ({m.memory.dram.words} words)")


@irdl_op_definition
class DataOp(IRDLOperation):
    """Constant words (packed weights, thresholds) the loader places in DRAM at `dram`."""

    name = "chewbacca.data"
    label = prop_def(StringAttr)
    dram = prop_def(IntegerAttr)
    data = prop_def(StringAttr)  # little-endian 16-bit words, hex
    assembly_format = "attr-dict"
    irdl_options = (ParsePropInAttrDict(),)

    def words(self) -> np.ndarray:
        return np.frombuffer(bytes.fromhex(self.data.data), "<u2")

    def verify_(self) -> None:
        if len(self.data.data) % 4 or not self.data.data:
            raise VerifyException(f"{self.name}: data must be whole 16-bit words")
        _check_dram(self, self.dram.value.data, len(self.data.data) // 4)


@irdl_op_definition
class HostStepOp(IRDLOperation):
    """Host step `step` (run by the HOST instruction): its JSON payload, as stored in the `.chew`."""

    name = "chewbacca.host_step"
    step = prop_def(IntegerAttr)
    payload = prop_def(StringAttr)
    assembly_format = "attr-dict"
    irdl_options = (ParsePropInAttrDict(),)

    def host_step(self) -> HostStep:
        return HostStep.parse(self.payload.data.encode())

    def verify_(self) -> None:
        try:
            step = self.host_step()  # the container's own checks: canonical JSON, tensors, zero rules
        except ChewcError as e:
            raise VerifyException(f"{self.name}: {e}") from e
        for t in (*step.inputs, *step.outputs):
            _check_dram(self, t.dram_addr, t.words)


class ProgramTensor:
    """An input or output of the program: a TensorDesc at DRAM word `dram` (mixed into the two ops)."""

    def desc(self) -> TensorDesc:
        return _tensor(self, self.dram.value.data)  # type: ignore[arg-type, attr-defined]

    def verify_(self) -> None:
        _check_dram(self, self.dram.value.data, self.desc().words)  # type: ignore[arg-type, attr-defined]


@irdl_op_definition
class InputOp(ProgramTensor, IRDLOperation):
    """The host stores the program input `value` into DRAM (dtype f32: two words per element)."""

    name = "chewbacca.input"
    value = operand_def(TensorType)
    tensor = prop_def(StringAttr)
    dram = prop_def(IntegerAttr)
    shape = prop_def(ArrayAttr[IntegerAttr])
    dtype = prop_def(StringAttr)
    assembly_format = "$value attr-dict `:` type($value)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, value: SSAValue, name: str, dram: int, shape: Sequence[int], dtype: str):
        super().__init__(operands=[value], properties=_desc_props(name, dram, shape, dtype))


@irdl_op_definition
class OutputOp(ProgramTensor, IRDLOperation):
    """The host loads a program output from DRAM after END."""

    name = "chewbacca.output"
    value = result_def(TensorType)
    tensor = prop_def(StringAttr)
    dram = prop_def(IntegerAttr)
    shape = prop_def(ArrayAttr[IntegerAttr])
    dtype = prop_def(StringAttr)
    assembly_format = "attr-dict `:` type($value)"
    irdl_options = (ParsePropInAttrDict(),)

    def __init__(self, result_type: Attribute, name: str, dram: int, shape: Sequence[int], dtype: str):
        super().__init__(result_types=[result_type], properties=_desc_props(name, dram, shape, dtype))


@irdl_op_definition
class ProbeOp(IRDLOperation):
    """Debug marker: after the preceding instruction, ONNX tensor `tensor` lies complete in memory `mem`
    (DRAM, or FMEM for a map kept on chip) from word `addr`."""

    name = "chewbacca.probe"
    tensor = prop_def(StringAttr)
    mem = prop_def(StringAttr)
    addr = prop_def(IntegerAttr)
    shape = prop_def(ArrayAttr[IntegerAttr])
    dtype = prop_def(StringAttr)
    assembly_format = "attr-dict"
    irdl_options = (ParsePropInAttrDict(),)

    def verify_(self) -> None:
        if self.mem.data not in ("dram", "fmem", "acc"):
            raise VerifyException(f"{self.name}: a probed tensor lies in dram, fmem or acc, not {self.mem.data}")
        # any ONNX tensor name goes (it is never a .chew name): only dtype and shape are checked
        words, size = _tensor(self, self.addr.value.data, "probe").words, machine_of(self).memory.words(self.mem.data)
        if self.addr.value.data < 0 or self.addr.value.data + words > size:
            raise VerifyException(f"{self.name}: words {self.addr.value.data:#x}..+{words} lie outside {self.mem.data} ({size} words)")


@irdl_op_definition
class LayerOp(IRDLOperation):
    """Report marker: the instructions from here to the next marker compute layer `layer` (see tile.layer,
    whose properties it keeps)."""

    name = "chewbacca.layer"
    layer = prop_def(StringAttr)
    kind = prop_def(StringAttr)
    bound_dram_bits = prop_def(IntegerAttr)
    bound_cycles = prop_def(IntegerAttr)
    predicted_cycles = prop_def(IntegerAttr)
    predicted_dram_bits = prop_def(IntegerAttr)
    mapping = prop_def(StringAttr)
    assembly_format = "attr-dict"
    irdl_options = (ParsePropInAttrDict(),)

    def verify_(self) -> None:
        for field in ("bound_dram_bits", "bound_cycles"):
            if getattr(self, field).value.data < -1:
                raise VerifyException(f"{self.name}: {field} must be a count or -1 (no bound)")
        for field in ("predicted_cycles", "predicted_dram_bits"):
            if getattr(self, field).value.data < 0:
                raise VerifyException(f"{self.name}: {field} must be a count")

    def mark(self, start: int) -> dict[str, object]:
        """Its entry in the program's layers section, for the layer starting at instruction `start`."""
        return {"start": start, "layer": self.layer.data, "kind": self.kind.data,
                "bound_dram_bits": self.bound_dram_bits.value.data, "bound_cycles": self.bound_cycles.value.data,
                "predicted_cycles": self.predicted_cycles.value.data,
                "predicted_dram_bits": self.predicted_dram_bits.value.data, "mapping": self.mapping.data}


Chewbacca = Dialect("chewbacca", [*OP_CLASSES, DataOp, HostStepOp, InputOp, OutputOp, ProbeOp, LayerOp], [MachineAttr])
