"""The `stdann` command: one subcommand per task, each defined beside its code."""

from __future__ import annotations

import argparse
import sys

from stdann.analysis import commands as analysis_commands
from stdann.data import commands as data_commands
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
    analysis_commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
