"""Assembler and disassembler for `.chew` programs.

Assembly is line based; `;` starts a comment. Lines are instructions, `MNEMONIC field=value ...` with
every field of the op named once (enum fields take their names, e.g. `pad_mode=gate`), or directives:

    .machine "NAME" "<sha256 hex>"      the machine the program is for (checked against --machine)
    .input  NAME DTYPE[C,H,W] LAYOUT @ADDR   tensor the host writes to DRAM before the run
    .output NAME DTYPE[C,H,W] LAYOUT @ADDR   tensor the host reads from DRAM after END
    .data NAME @ADDR                    constant words placed in DRAM at load; followed by
    .word W ...                         16-bit words (-32768..65535) or
    .bits "0110..."                     bits, 16 per word, the first character is bit 0
    .section KIND NAME                  an opaque section, followed by
    .hex "00ff..."                      its bytes
    .host STEP "REASON"                 host step STEP (section host<STEP>, run by HOST step=STEP),
    .host_in "NAME" DTYPE[C,H,W] @ADDR  followed by its input tensors ([K] for a vector),
    .host_out "NAME" DTYPE[C,H,W] @ADDR [zero=plus|reject]   its output tensors, and
    .onnx "base64..."                   its ONNX graph (the lines are joined; none: a copy)
    .planes BITS EXP signed|unsigned    instead of a graph: split the one f32 input into the BITS bit
                                        planes of q = x / 2**EXP (its one .host_out holds them all)
    .inst 0x...                         a raw instruction word (objdump prints undecodable words so)

Numbers are decimal, 0x hex or 0b binary; strings are JSON strings (backslash escapes). The grammar
is generic; mnemonics, fields, ranges and address limits come from `isa.table` and the machine
description.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field

import lark

from isa import build
from isa.container import (
    DTYPES,
    HOST_KIND,
    LAYOUT_OF,
    ChewProgram,
    DataBlock,
    HostStep,
    HostTensor,
    Planes,
    Section,
    TensorDesc,
)
from isa.errors import ChewcError
from isa.instruction import Instruction, decode, encode
from isa.machine import Machine
from isa.table import BY_MNEMONIC, MEM_SELECT

GRAMMAR = r"""
start: _line*
_line: _stmt? _NL
_stmt: instr | data | word | bits | tensor | section | hex | machine | inst | host | host_tensor | onnx | planes
instr: NAME operand*
operand: NAME "=" (INT | NAME)
data: ".data" NAME "@" INT
word: ".word" WORDS
bits: ".bits" STRING
tensor: TENSOR NAME NAME "[" INT ("," INT)* "]" NAME "@" INT
section: ".section" NAME NAME
hex: ".hex" STRING
machine: ".machine" STRING STRING
inst: ".inst" INT
host: ".host" INT STRING
host_tensor: HOST_TENSOR STRING NAME "[" INT ("," INT)* "]" "@" INT operand?
onnx: ".onnx" STRING
planes: ".planes" INT INT NAME
TENSOR: ".input" | ".output"
HOST_TENSOR: ".host_in" | ".host_out"
INT: /-?(0x[0-9a-fA-F]+|0b[01]+|[0-9]+)(?![A-Za-z0-9_.])/
WORDS: /-?(0x[0-9a-fA-F]+|0b[01]+|[0-9]+)(?![A-Za-z0-9_.])([ \t]+-?(0x[0-9a-fA-F]+|0b[01]+|[0-9]+)(?![A-Za-z0-9_.]))*/
NAME: /[A-Za-z_][A-Za-z0-9_.]*/
STRING: /"(\\.|[^"\\\n])*"/
COMMENT: /;[^\n]*/
_NL: /\r?\n/
%ignore COMMENT
%ignore /[ \t]+/
"""

COMMENT_COLUMN = 64
ONNX_CHUNK = 96  # base64 characters per .onnx line


@functools.cache
def _parser() -> lark.Lark:
    return lark.Lark(GRAMMAR, parser="lalr", propagate_positions=True)


@dataclass
class _Host:
    """A host step being assembled: `.host` and the `.host_in` / `.host_out` / `.onnx` lines after it."""

    node: lark.Tree[lark.Token]
    step: int
    reason: str
    onnx: list[str] = field(default_factory=list)
    inputs: list[HostTensor] = field(default_factory=list)
    outputs: list[HostTensor] = field(default_factory=list)
    planes: Planes | None = None


@dataclass
class _Builder:
    source: str
    machine: Machine
    code: list[int] = field(default_factory=list)
    data: list[tuple[str, int, list[int]]] = field(default_factory=list)
    inputs: list[TensorDesc] = field(default_factory=list)
    outputs: list[TensorDesc] = field(default_factory=list)
    sections: list[tuple[str, str, bytearray]] = field(default_factory=list)
    hosts: list[_Host] = field(default_factory=list)
    machine_hash: bytes | None = None

    def at(self, node: lark.Tree[lark.Token] | lark.Token, message: str, column: bool = False) -> ChewcError:
        line = node.line if isinstance(node, lark.Token) else node.meta.line
        col = node.column if isinstance(node, lark.Token) else node.meta.column
        return ChewcError(f"{self.source}:{line}:{col}: {message}" if column else f"{self.source}:{line}: {message}")

    def number(self, tok: lark.Token) -> int:
        """A decimal, 0x or 0b literal; anything else (`08`, 5,000 digits) is an error naming it."""
        digits = tok[1:] if tok.startswith("-") else str(tok)
        try:
            if len(digits) > 66:  # a 64-bit value in binary, with its 0b
                raise ValueError
            value = int(digits, 0)
        except ValueError:
            shown = str(tok) if len(tok) <= 24 else f"{tok[:20]}..."
            raise self.at(tok, f"{shown!r} is not a number (decimal, 0x hex or 0b binary)", column=True) from None
        return -value if tok.startswith("-") else value

    def statement(self, node: lark.Tree[lark.Token]) -> None:
        getattr(self, f"do_{node.data}")(node, *node.children)

    def string(self, tok: lark.Token) -> str:
        try:
            return str(json.loads(str(tok), strict=False))
        except ValueError as e:
            raise self.at(tok, f"bad escape in string {tok}", column=True) from e

    def do_instr(self, node: lark.Tree[lark.Token], mnemonic: lark.Token, *operands: lark.Tree[lark.Token]) -> None:
        op = BY_MNEMONIC.get(mnemonic.upper())
        if op is None:
            raise self.at(mnemonic, f"unknown mnemonic '{mnemonic}'", column=True)
        given: dict[str, int | str] = {}
        for operand in operands:
            name, value = typing.cast(list[lark.Token], operand.children)
            if name not in op.field_names:
                raise self.at(name, f"{op.mnemonic} has no field '{name}' (fields: {', '.join(op.field_names)})", True)
            if name in given:
                raise self.at(name, f"field '{name}' given twice", column=True)
            given[str(name)] = self.number(value) if value.type == "INT" else str(value)
        try:
            ins = Instruction.make(op.mnemonic, **given)
        except ChewcError as e:
            raise self.at(node, str(e)) from e
        for f, v in zip(op.fields, ins.values, strict=True):
            memory = op.field("mem").enum[ins["mem"]] if f.memory == MEM_SELECT else f.memory
            if memory is not None and v >= self.machine.memory.words(memory):
                raise self.at(
                    node,
                    f"field '{f.name}' = {v:#x} outside {memory.upper()} "
                    f"({self.machine.memory.words(memory)} words on machine '{self.machine.name}')",
                )
        self.code.append(encode(ins))

    def do_inst(self, node: lark.Tree[lark.Token], word: lark.Token) -> None:
        value = self.number(word)
        if not 0 <= value < 1 << 64:
            raise self.at(node, f"instruction word {word} does not fit in 64 bits")
        self.code.append(value)

    def do_data(self, node: lark.Tree[lark.Token], name: lark.Token, addr: lark.Token) -> None:
        self.data.append((str(name), self.number(addr), []))

    def words_target(self, node: lark.Tree[lark.Token]) -> list[int]:
        if not self.data:
            raise self.at(node, "words outside a data block (start one with .data NAME @ADDR)")
        return self.data[-1][2]

    def do_word(self, node: lark.Tree[lark.Token], words: lark.Token) -> None:
        target = self.words_target(node)
        # one token for the line's words (a token each made parsing long data blocks several times slower)
        for found in re.finditer(r"\S+", words):
            text = found.group()
            try:  # what number() reads, without a token for its position unless it is an error
                v = int(text, 0) if len(text) <= 8 else None
            except ValueError:
                v = None
            if v is None or not -(1 << 15) <= v < 1 << 16:
                tok = lark.Token("INT", text, line=words.line, column=words.column + found.start())
                v = self.number(tok)
                if not -(1 << 15) <= v < 1 << 16:
                    raise self.at(tok, f"word {tok} out of range -32768..65535", column=True)
            target.append(v & 0xFFFF)

    def do_bits(self, node: lark.Tree[lark.Token], text: lark.Token) -> None:
        bits = self.string(text)
        if not re.fullmatch(r"[01]*", bits) or len(bits) % 16 or not bits:
            raise self.at(text, ".bits needs a multiple of 16 characters 0/1", column=True)
        target = self.words_target(node)
        for i in range(0, len(bits), 16):
            target.append(sum(1 << b for b, ch in enumerate(bits[i : i + 16]) if ch == "1"))

    def do_tensor(
        self, node: lark.Tree[lark.Token], kw: lark.Token, name: lark.Token, dtype: lark.Token, *rest: lark.Token
    ) -> None:
        *dims, layout, addr = rest
        if dtype not in DTYPES:
            raise self.at(dtype, f"dtype '{dtype}' is not one of {', '.join(DTYPES)}", column=True)
        if layout != LAYOUT_OF[dtype]:
            raise self.at(layout, f"layout of {dtype} tensors is '{LAYOUT_OF[dtype]}', not '{layout}'", column=True)
        if len(dims) != 3:
            raise self.at(node, f"tensor '{name}' needs a shape [C,H,W], got {len(dims)} dimensions")
        try:
            desc = TensorDesc(str(name), str(dtype), tuple(self.number(d) for d in dims), self.number(addr))  # type: ignore[arg-type]
        except ChewcError as e:
            raise self.at(node, str(e)) from e
        (self.inputs if kw == ".input" else self.outputs).append(desc)

    def do_section(self, node: lark.Tree[lark.Token], kind: lark.Token, name: lark.Token) -> None:
        if kind == HOST_KIND:
            raise self.at(node, 'host sections are written as .host STEP "REASON" with .host_in / .host_out / .onnx')
        try:
            Section(str(kind), str(name), b"")
        except ChewcError as e:
            raise self.at(node, str(e)) from e
        self.sections.append((str(kind), str(name), bytearray()))

    def do_hex(self, node: lark.Tree[lark.Token], text: lark.Token) -> None:
        if not self.sections:
            raise self.at(node, ".hex outside a section (start one with .section KIND NAME)")
        try:
            self.sections[-1][2].extend(bytes.fromhex(self.string(text)))
        except ValueError as e:
            raise self.at(text, "not an even number of hex digits", column=True) from e

    def do_host(self, node: lark.Tree[lark.Token], step: lark.Token, reason: lark.Token) -> None:
        try:
            BY_MNEMONIC["HOST"].field("step").check(self.number(step))
        except ChewcError as e:
            raise self.at(step, str(e), column=True) from e
        self.hosts.append(_Host(node, self.number(step), self.string(reason)))

    def current_host(self, node: lark.Tree[lark.Token], what: str) -> _Host:
        if not self.hosts:
            raise self.at(node, f'{what} outside a host step (start one with .host STEP "REASON")')
        return self.hosts[-1]

    def do_host_tensor(
        self, node: lark.Tree[lark.Token], kw: lark.Token, name: lark.Token, dtype: lark.Token, *rest: lark.Tree
    ) -> None:
        host = self.current_host(node, str(kw))
        zero = ""
        if rest and isinstance(rest[-1], lark.Tree):
            key, value = typing.cast(list[lark.Token], rest[-1].children)
            if key != "zero" or value.type != "NAME":
                raise self.at(key, f"{kw} takes only zero=plus or zero=reject", column=True)
            zero, rest = str(value), rest[:-1]
        *dims, addr = typing.cast(list[lark.Token], rest)
        try:
            t = HostTensor(self.string(name), str(dtype), tuple(self.number(d) for d in dims), self.number(addr), zero)
        except ChewcError as e:
            raise self.at(node, str(e)) from e
        (host.inputs if kw == ".host_in" else host.outputs).append(t)

    def do_onnx(self, node: lark.Tree[lark.Token], text: lark.Token) -> None:
        self.current_host(node, ".onnx").onnx.append(self.string(text))

    def do_planes(self, node: lark.Tree[lark.Token], bits: lark.Token, exponent: lark.Token, kind: lark.Token) -> None:
        host = self.current_host(node, ".planes")
        if kind not in ("signed", "unsigned"):
            raise self.at(kind, f".planes takes signed or unsigned, not '{kind}'", column=True)
        if host.planes is not None:
            raise self.at(node, f"host step {host.step}: .planes given twice")
        try:
            host.planes = Planes(self.number(bits), self.number(exponent), kind == "signed")
        except ChewcError as e:
            raise self.at(node, str(e)) from e

    def host_section(self, host: _Host) -> Section:
        try:
            model = base64.b64decode("".join(host.onnx), validate=True)
        except binascii.Error as e:
            raise self.at(host.node, f"host step {host.step}: .onnx is not base64") from e
        try:
            step = HostStep(host.reason, model, tuple(host.inputs), tuple(host.outputs), host.planes)
            return Section.host(host.step, step)
        except ChewcError as e:
            raise self.at(host.node, f"host step {host.step}: {e}") from e

    def do_machine(self, node: lark.Tree[lark.Token], name: lark.Token, text: lark.Token) -> None:
        if self.machine_hash is not None:
            raise self.at(node, ".machine given twice")
        try:
            digest = bytes.fromhex(self.string(text))
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise self.at(text, ".machine needs the 64 hex digits of a sha256", column=True)
        if digest != self.machine.hash():
            raise self.at(
                node,
                f"program is for machine '{self.string(name)}' ({digest.hex()[:12]}...), not for machine "
                f"'{self.machine.name}' ({self.machine.hash().hex()[:12]}...): pass the right --machine",
            )
        self.machine_hash = digest

    def program(self) -> ChewProgram:
        hosts = tuple(self.host_section(h) for h in self.hosts)
        try:
            data = tuple(DataBlock.of(name, addr, words) for name, addr, words in self.data)
            prog = ChewProgram(
                self.machine.hash(),
                self.machine.name,
                tuple(self.code),
                data,
                tuple(self.inputs),
                tuple(self.outputs),
                (*hosts, *(Section(k, n, bytes(p)) for k, n, p in self.sections)),
            )
            prog.check_fits(self.machine)
        except ChewcError as e:
            raise ChewcError(f"{self.source}: {e}") from e
        return prog


def assemble(text: str, machine: Machine, source: str = "<asm>") -> ChewProgram:
    """Assemble `text` for `machine`; errors name `source:line[:column]`."""
    try:
        tree = _parser().parse(text if text.endswith("\n") else text + "\n")
    except lark.exceptions.UnexpectedCharacters as e:
        raise ChewcError(f"{source}:{e.line}:{e.column}: syntax error: unexpected character {e.char!r}") from e
    except lark.exceptions.UnexpectedToken as e:
        what = "end of line" if e.token.type == "_NL" else repr(str(e.token))
        raise ChewcError(f"{source}:{e.line}:{e.column}: syntax error: unexpected {what}") from e
    except lark.exceptions.UnexpectedEOF as e:
        raise ChewcError(f"{source}: syntax error: unexpected end of file") from e
    builder = _Builder(source, machine)
    for stmt in typing.cast(list[lark.Tree[lark.Token]], tree.children):
        builder.statement(stmt)
    for name, _, words in builder.data:
        if not words:
            raise ChewcError(f"{source}: data '{name}' has no words")
    return builder.program()


def _commented(text: str, comment: str) -> str:
    return f"{text.ljust(COMMENT_COLUMN - 1)} ; {comment}"


def _tensor_line(kind: str, t: TensorDesc) -> str:
    return f".{kind} {t.name} {t.dtype}[{','.join(map(str, t.shape))}] {t.layout} @{t.dram_addr:#08x}"


def _quote(text: str) -> str:
    """A JSON string literal that keeps printable non-ASCII (e.g. ±) readable and escapes the rest."""
    return "".join(ch if ch.isprintable() else json.dumps(ch)[1:-1] for ch in json.dumps(text, ensure_ascii=False))


def _host_tensor_line(kind: str, t: HostTensor) -> str:
    zero = f" zero={t.zero}" if t.zero else ""
    name = _quote(t.name)
    return f".host_{kind} {name} {t.dtype}[{','.join(map(str, t.shape))}] @{t.dram_addr:#08x}{zero}"


def _host_lines(step: int, host: HostStep) -> Iterator[str]:
    yield f".host {step} {_quote(host.reason)}"
    for t in host.inputs:
        yield _host_tensor_line("in", t)
    for t in host.outputs:
        yield _host_tensor_line("out", t)
    if host.planes is not None:
        yield f".planes {host.planes.bits} {host.planes.exponent} {'signed' if host.planes.signed else 'unsigned'}"
    text = base64.b64encode(host.onnx).decode("ascii")
    for off in range(0, len(text), ONNX_CHUNK):
        yield f'.onnx "{text[off : off + ONNX_CHUNK]}"'


def _layer_starts(program: ChewProgram) -> dict[int, str]:
    """A comment line at the first instruction of each layer: its ONNX tensors, kind and ONNX nodes (from
    the program's layers section; a section that does not read as one gives none)."""
    section = next((s for s in program.sections if s.kind == "report" and s.name == "layers"), None)
    try:
        marks = json.loads(section.payload) if section is not None else []
        return {int(m["start"]): f"; layer {m['layer']} ({m['kind']})" + (
            f": ONNX nodes {', '.join(map(str, m['onnx_nodes']))}" if m.get("onnx_nodes") else "")
            for m in marks}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}


def _instruction_nodes(program: ChewProgram) -> list[str]:
    """The ONNX node of each instruction (the program's debug nodes section: runs of [start, node]); a
    section that does not read as one gives none."""
    section = next((s for s in program.sections if s.kind == "debug" and s.name == "nodes"), None)
    out: list[str] = []
    try:
        runs = json.loads(section.payload) if section is not None else []
        for (start, name), (end, _) in zip(runs, [*runs[1:], [len(program.code), ""]], strict=True):
            if int(start) != len(out) or not int(start) <= int(end) <= len(program.code):
                return []
            out += [str(name)] * (int(end) - int(start))
    except (ValueError, TypeError):
        return []
    return out


def disassemble(program: ChewProgram) -> str:
    """Assembly text for `program`; assembling it again gives the same bytes."""
    return "\n".join(_lines(program)) + "\n"


def _lines(program: ChewProgram) -> Iterator[str]:
    yield (
        f"; {len(program.code)} instructions, {len(program.data)} data blocks, {len(program.inputs)} inputs, "
        f"{len(program.outputs)} outputs, {len(program.host_steps)} host steps, "
        f"{len(program.sections) - len(program.host_steps)} other sections"
    )
    yield f'.machine "{program.machine_name}" "{program.machine_hash.hex()}"'
    for t in program.inputs:
        yield _tensor_line("input", t)
    for t in program.outputs:
        yield _tensor_line("output", t)
    yield ""
    yield "; code: instruction address (index), 64-bit encoding"
    layers, nodes = _layer_starts(program), _instruction_nodes(program)
    for i, word in enumerate(program.code):
        if i in layers:
            yield layers[i]
        node = f"  {nodes[i]}" if i < len(nodes) and nodes[i] else ""
        try:
            text = decode(word).text()
        except ChewcError as e:
            text = f".inst {word:#018x}"
            yield _commented(text, f"{i:04d}  {word:#018x}  undecodable: {e}")
            continue
        yield _commented(text, f"{i:04d}  {word:#018x}{node}")
    for d in program.data:
        yield ""
        yield f".data {d.name} @{d.dram_addr:#08x}"
        words = d.words
        for off in range(0, words.size, 8):
            yield _commented(
                ".word " + " ".join(f"{w:#06x}" for w in words[off : off + 8]), f"@{d.dram_addr + off:#08x}"
            )
    for k, host in program.host_steps.items():
        yield ""
        yield from _host_lines(k, host)
    for s in program.sections:
        if s.kind == HOST_KIND:
            continue
        yield ""
        if (s.kind, s.name) == (build.KIND, build.MANIFEST):
            try:
                lines = build.describe(build.manifest(program) or {})
            except ChewcError as e:
                lines = [f"an unreadable build manifest: {e}"]
            yield from (f"; {line}" for line in lines)
        yield f".section {s.kind} {s.name}"
        for off in range(0, len(s.payload), 32):
            yield f'.hex "{s.payload[off : off + 32].hex()}"'
