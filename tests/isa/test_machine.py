"""Machine descriptions: values, provenance tags, validation errors, hashing, `extends`."""

from __future__ import annotations

from pathlib import Path

import pytest

from isa.errors import ChewcError
from isa.machine import DEFAULT_MACHINE, load_machine


def test_default_machine_values() -> None:
    m = load_machine()
    assert m.name == "chewbaccann"
    assert (m.array.window_h, m.array.window_w, m.array.lanes, m.array.macs_per_cycle) == (7, 7, 16, 784)
    assert m.memory.fmem.size_bytes == 64 * 1024 and m.memory.fmem.words == 32768
    assert m.memory.wmem.size_bytes == 16 * 1024 and m.memory.tmem.size_bytes == 2 * 1024
    assert m.memory.acc.words == 16384 and m.memory.dram.size_bytes == 16 * 1024 * 1024
    assert m.dma.bits_per_cycle == 32 and m.array.row_buffers == 8
    point = m.operating_point(None)
    assert (point.vdd, point.freq) == (0.4, 154e6)
    assert 26e-12 <= m.memory.dram.read_energy <= 32e-12
    assert m.energy_scale(0.8) == pytest.approx(4.0)


def test_every_parameter_is_tagged_with_provenance() -> None:
    m = load_machine()
    tags = {p.path: p for p in m.params}
    assert tags["operating_point[0].freq"].tag == "S" and "154 MHz" in tags["operating_point[0].freq"].source
    assert tags["array.lanes"].tag == "D" and tags["memory.fmem.size_bytes"].tag == "A"
    assert all(p.tag in "SDA" and (p.tag == "A" or p.source) and p.unit is not None for p in m.params)
    assert len(tags) == len(m.params) > 50


def test_quarter_machine_is_a_quarter() -> None:
    m, q = load_machine(), load_machine("quarter")
    for mem in ("fmem", "wmem", "tmem", "acc"):
        assert q.memory.on_chip(mem).size_bytes * 4 == m.memory.on_chip(mem).size_bytes
    assert q.memory.dram == m.memory.dram and q.array == m.array and q.operating_points == m.operating_points
    assert q.hash() != m.hash()
    assert load_machine(DEFAULT_MACHINE).hash() == m.hash()  # stable across loads


def test_an_operating_point_outside_the_table_is_refused() -> None:
    with pytest.raises(ChewcError, match=r"has operating points from 0.4 to 0.8 V \(0.4, 0.5, 0.6, 0.8 V\), not 0.9 V"):
        load_machine().operating_point(0.9)


def _variant(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "variant.toml"
    path.write_text(f'extends = "{DEFAULT_MACHINE}"\nname = "variant"\n{body}')
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[array]\nlanes = { value = 16 }", r"array.lanes: tag must be one of S, D, A"),
        ('[array]\nlanes = { value = 16, tag = "D" }', r"array.lanes: a \[D\] parameter needs a source"),
        ("[array]\nlanes = 16", r"array.lanes: expected \{ value"),
        ('[array]\nlanez = { value = 16, tag = "A" }', r"array.lanez: unknown parameter"),
        ('[array]\nlanes = { value = 8, tag = "A" }', r"array.macs_per_cycle: 784 != window_h\*window_w\*lanes"),
        ('[array]\nrow_buffers = { value = 7, tag = "A" }', r"array.row_buffers: needs at least one buffer"),
        ('[array]\nwindow_h = { value = 9, tag = "A" }', r"array.window_h"),
        ('[array]\nmax_pack = { value = 8, tag = "A" }', r"array.max_pack: must be 1..7"),
        ('[array]\nmax_pack = { value = 0, tag = "A" }', r"array.max_pack: must be"),
        ('[array]\nlanes = { value = 1.5, tag = "A" }', r"array.lanes: expected an integer"),
        ('[memory.fmem]\nsize_bytes = { value = -2, tag = "A" }', r"memory.fmem.size_bytes: must be positive"),
        ('[memory.fmem]\nword_bits = { value = 32, tag = "A" }', r"memory.fmem.word_bits: must be 16"),
        ('[memory.fmem]\nsize_bytes = { value = 262144, tag = "A" }', r"exceed the 65536 words the ISA can address"),
        ('[[operating_point]]\nvdd = { value = 0.9, tag = "A" }', r"operating_point\[0\].freq: missing"),
        ("[extra]\nx = 1", r"extra: unknown section"),
    ],
)
def test_invalid_descriptions(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ChewcError, match=message):
        load_machine(_variant(tmp_path, body))


def test_operating_points_must_include_the_reference(tmp_path: Path) -> None:
    path = _variant(
        tmp_path,
        '[[operating_point]]\nvdd = { value = 0.9, tag = "A" }\n'
        'freq = { value = 1e9, tag = "A" }\nleakage = { value = 1e-3, tag = "A" }',
    )
    with pytest.raises(ChewcError, match=r"no operating point at 0\.4 V"):
        load_machine(path)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ChewcError, match="cannot read machine description"):
        load_machine(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(ChewcError, match="invalid TOML"):
        load_machine(bad)
    loop = tmp_path / "loop.toml"
    loop.write_text('extends = "loop.toml"\n')
    with pytest.raises(ChewcError, match="loops back"):
        load_machine(loop)


def test_override_changes_hash(tmp_path: Path) -> None:
    path = _variant(tmp_path, '[dma]\nbits_per_cycle = { value = 64, tag = "A", note = "wider bus" }')
    m = load_machine(path)
    assert m.dma.bits_per_cycle == 64 and m.hash() != load_machine().hash()


def test_parameters_beyond_any_machine_are_refused(tmp_path: Path) -> None:
    """A size of 2**64 reached the IR attribute (exit 3, i64 overflow) and the cost model (OverflowError)."""
    path = tmp_path / "huge.toml"
    path.write_text(f'extends = "{DEFAULT_MACHINE}"\nname = "huge"\n[dma]\nsetup_cycles = {{ value = {2**64}, tag = "A" }}\n')
    with pytest.raises(ChewcError, match=r"dma.setup_cycles: 18446744073709551616 is beyond any machine"):
        load_machine(path)
