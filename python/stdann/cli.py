"""The `stdann` command: one subcommand per task, each defined beside its code.

Errors are reported here, once for every command: a `StdannError` (bad
input, a diverged run, a file that could not be written) is one line on
stderr, `stdann COMMAND: TYPE: message`, and its exit status
(`stdann.errors`); a stop signal that ended a training command is one line
and exit status 75 (`EXIT_STOPPED`): `stdann.errors.run_command`. Anything else is a bug, with its
traceback.
"""

from __future__ import annotations

import argparse
import sys

from stdann import export, sweep
from stdann.analysis import commands as analysis_commands
from stdann.data import commands as data_commands
from stdann.errors import run_command
from stdann.topo import commands as topo_commands
from stdann.train import commands as train_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stdann",
        description="Spatiotemporal topographic deep networks trained on natural videos.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_commands.register(sub)
    topo_commands.register(sub)
    train_commands.register(sub)
    sweep.register(sub)
    export.register(sub)
    analysis_commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
