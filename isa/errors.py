"""Errors shared by every chewc tool, and the one place that turns them into exit codes.

Exit codes (the same for every tool):
  0  success
  1  a check found a mismatch (emulator vs. reference, bisection found a wrong pass)
  2  bad input or usage (unreadable file, unsupported op, malformed program, ...)
  3  internal error: a bug in chewc, never the user's fault
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from collections.abc import Callable, Sequence

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


class ChewcError(Exception):
    """A user-facing error: one line that names the node, op, offset or constraint."""

    exit_code: int = EXIT_BAD_INPUT


class InternalError(ChewcError):
    """A chewc bug caught by its own checks (e.g. a compiled program that would race on the machine)."""

    exit_code = EXIT_INTERNAL


class MismatchError(ChewcError):
    """A result differs from its reference."""

    exit_code = EXIT_MISMATCH


def one_line(message: str) -> str:
    """Multi-line diagnostics (xDSL's source excerpt and caret) condensed to their gist on one line."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip() and set(ln.strip()) != {"^"}]
    return " | ".join(lines[:3]) if lines else message


def printable(message: str) -> str:
    """A message as one line: control characters from user data (a newline in a name) escaped."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in message)


def first_line(e: BaseException) -> str:
    """The first line of a foreign exception's message, for a one-line ChewcError."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def cli_main(tool: str) -> Callable[[Callable[[Sequence[str] | None], int]], Callable[..., int]]:
    """Wrap a CLI entry point: errors become one stderr line and an exit code, never a traceback.

    Set CHEWC_TRACEBACK=1 to see the Python traceback of an internal error.
    """

    def wrap(fn: Callable[[Sequence[str] | None], int]) -> Callable[..., int]:
        @functools.wraps(fn)
        def entry(argv: Sequence[str] | None = None) -> int:
            try:
                with warnings.catch_warnings():  # a tool's stderr holds its own line, not numpy's or qonnx's
                    warnings.simplefilter("ignore")
                    code = fn(argv)
            except InternalError as e:
                print(f"{tool}: internal error: {printable(str(e))} (a chewc bug)", file=sys.stderr)
                code = e.exit_code
            except ChewcError as e:
                print(f"{tool}: error: {printable(str(e))}", file=sys.stderr)
                code = e.exit_code
            except BrokenPipeError:  # the reader left (`chewc-objdump x.chew | head`): not an error
                # stdout's last flush at exit would fail again and print a warning: point it at /dev/null
                with contextlib.suppress(OSError, ValueError):  # a stdout without a file descriptor
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                code = 0
            except OSError as e:  # the file system refused (disk full, an unreadable device): not a chewc bug
                where = f" {e.filename}" if e.filename else ""
                print(f"{tool}: error: cannot access{where}: {e.strerror or type(e).__name__}", file=sys.stderr)
                code = EXIT_BAD_INPUT
            except KeyboardInterrupt:
                print(f"{tool}: interrupted", file=sys.stderr)
                code = 130
            except Exception as e:  # noqa: BLE001 -- the last line of defence for users
                if os.environ.get("CHEWC_TRACEBACK"):
                    raise
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                print(
                    f"{tool}: internal error: {type(e).__name__}: {first} "
                    "(a chewc bug; rerun with CHEWC_TRACEBACK=1 for details)",
                    file=sys.stderr,
                )
                code = EXIT_INTERNAL
            if argv is None:
                sys.exit(code)
            return code

        return entry

    return wrap
