"""`chewc-opt`: the pass-pipeline debugger, xDSL's opt driver with the chewc dialects and passes."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import get_all_dialects as upstream_dialects
from xdsl.transforms import get_all_passes as upstream_passes
from xdsl.xdsl_opt_main import xDSLOptMain

from compiler.passes import get_all_passes
from dialects import get_all_dialects


class ChewcOptMain(xDSLOptMain):
    version_format = "chewc-opt built on xdsl {xdsl_version}"

    def register_all_dialects(self) -> None:
        # registered explicitly (not via the entry-point multiverse) so nothing registers twice
        for name, factory in {**upstream_dialects(), **get_all_dialects()}.items():
            self.ctx.register_dialect(name, factory)

    def register_all_passes(self) -> None:
        for name, factory in {**upstream_passes(), **get_all_passes()}.items():
            self.register_pass(name, factory)


def main(argv: Sequence[str] | None = None) -> None:
    ChewcOptMain(args=argv).run()
