"""Reading and writing the files every chewc tool takes: bounded, and every failure one ChewcError line.

A path given by a user may name anything: a missing file, a directory, a device that never ends
(`/dev/zero`), a file far larger than any valid input. Each is refused before it is read, so no tool
ever reads without bound.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from isa.errors import ChewcError

MiB = 1 << 20
# Largest inputs any tool accepts (a valid input is far smaller: DRAM holds 16 MiB words).
MAX_MODEL_BYTES = 512 * MiB  # an ONNX model (protobuf itself stops at 2 GiB)
MAX_PROGRAM_BYTES = 256 * MiB  # a .chew program
MAX_TEXT_BYTES = 64 * MiB  # assembly, machine descriptions, IR


def read_bytes(path: str | Path, what: str, limit: int) -> bytes:
    """The bytes of regular file `path` of at most `limit` bytes; `what` names it in errors."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ChewcError(f"cannot read {what} {p}: no such file") from None
    except OSError as e:
        raise ChewcError(f"cannot read {what} {p}: {e.strerror or type(e).__name__}") from e
    if stat.S_ISDIR(st.st_mode):
        raise ChewcError(f"cannot read {what} {p}: it is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise ChewcError(f"cannot read {what} {p}: not a regular file")
    if st.st_size > limit:
        raise ChewcError(f"cannot read {what} {p}: {st.st_size} bytes is more than the {limit // MiB} MiB allowed")
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise ChewcError(f"cannot read {what} {p}: {e.strerror or type(e).__name__}") from e
    if len(data) > limit:  # grew while we read it
        raise ChewcError(f"cannot read {what} {p}: more than the {limit // MiB} MiB allowed")
    return data


def read_text(path: str | Path, what: str, limit: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of `path` (see `read_bytes`); invalid UTF-8 is an error naming its byte offset."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ChewcError(f"{path}: byte {e.start} is not valid UTF-8 ({what} must be UTF-8 text)") from e


def write_output(path: str | Path, data: bytes | str) -> None:
    """Write a tool's result to `path`; a missing folder or a refused write is one line, not a traceback."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ChewcError(f"cannot write {p}: folder {parent} does not exist")
    try:
        if isinstance(data, str):
            p.write_text(data)
        else:
            p.write_bytes(data)
    except OSError as e:
        raise ChewcError(f"cannot write {p}: {e.strerror or type(e).__name__}") from e


def writable(path: str | Path) -> None:
    """Refuse an output path before a long run rather than after it."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ChewcError(f"cannot write {p}: folder {parent} does not exist")
    if p.is_dir():
        raise ChewcError(f"cannot write {p}: it is a directory")
    if not os.access(parent, os.W_OK):
        raise ChewcError(f"cannot write {p}: folder {parent} is not writable")
