"""Instructions as values, and their 64-bit encoding, both driven by `isa.table`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from isa.errors import ChewcError
from isa.table import BY_MNEMONIC, BY_OPCODE, OPCODE_BITS, WORD_BITS, Op

_WORD_MASK = (1 << WORD_BITS) - 1


@dataclass(frozen=True)
class Instruction:
    """One decoded instruction: its op and one value per field, in table order (enums as indices)."""

    op: Op
    values: tuple[int, ...]

    @staticmethod
    def make(mnemonic: str, **fields: int | str) -> Instruction:
        """Build and range-check an instruction: `Instruction.make("CFG.K", kh=3, ..., pad_mode="gate")`."""
        op = BY_MNEMONIC.get(mnemonic.upper())
        if op is None:
            raise ChewcError(f"unknown mnemonic '{mnemonic}'")
        if op.defaults:
            fields = op.defaults | fields
        if len(fields) != len(op.fields) or not all(n in fields for n in op.field_names):
            extra = [n for n in fields if n not in op.field_names]
            if extra:
                raise ChewcError(f"{op.mnemonic} has no field '{extra[0]}' (fields: {', '.join(op.field_names)})")
            missing = [n for n in op.field_names if n not in fields]
            raise ChewcError(f"{op.mnemonic} needs field '{missing[0]}'")
        return Instruction.of(op, [fields[n] for n in op.field_names])

    @staticmethod
    def of(op: Op, raw: Sequence[int | str]) -> Instruction:
        """Range-check one value per field of `op`, in table order (enum fields by name or index)."""
        values = []
        for f, v in zip(op.fields, raw, strict=True):
            if isinstance(v, str):
                if v not in f.enum:
                    choices = ", ".join(f.enum) if f.enum else "an integer"
                    raise ChewcError(f"field '{f.name}' = '{v}' is not one of {choices}")
                v = f.enum.index(v)
            f.check(v)
            values.append(v)
        return Instruction(op, tuple(values))

    def __getitem__(self, name: str) -> int:
        return self.values[self.op.field_names.index(name)]

    def as_dict(self) -> Mapping[str, int]:
        return dict(zip(self.op.field_names, self.values, strict=True))

    def text(self) -> str:
        """Assembly text, e.g. `CONV fmem=0x0 wmem=0x0 acc=0x0 accumulate=0`."""
        args = " ".join(f"{f.name}={f.show(v)}" for f, v in zip(self.op.fields, self.values, strict=True)
                        if v != f.default)
        return f"{self.op.mnemonic} {args}".rstrip()


def encode(ins: Instruction) -> int:
    word = ins.op.opcode
    for f, v in zip(ins.op.fields, ins.values, strict=True):
        f.check(v)
        word |= (v & f.mask) << f.offset
    return word


def decode(word: int) -> Instruction:
    """The instruction encoded by `word`; unknown opcodes, illegal values and set unused bits are errors."""
    if not 0 <= word <= _WORD_MASK:
        raise ChewcError(f"instruction word {word:#x} does not fit in {WORD_BITS} bits")
    opcode = word & ((1 << OPCODE_BITS) - 1)
    op = BY_OPCODE.get(opcode)
    if op is None:
        raise ChewcError(f"unknown opcode {opcode:#04x}")
    values, used = [], (1 << OPCODE_BITS) - 1
    for f in op.fields:
        raw = (word >> f.offset) & f.mask
        v = raw - (1 << f.width) if f.signed and raw >> (f.width - 1) else raw
        f.check(v)
        values.append(v)
        used |= f.mask << f.offset
    if word & ~used & _WORD_MASK:
        raise ChewcError(f"{op.mnemonic}: unused bits set ({word & ~used & _WORD_MASK:#018x})")
    return Instruction(op, tuple(values))
