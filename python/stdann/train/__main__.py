"""`python -m stdann.train ...` is `stdann train ...`: the entry point for torchrun.

torchrun --nproc_per_node=8 -m stdann.train --config configs/paper.yaml --out runs/x

It parses the training commands alone (`stdann.train.commands`) and reports
errors as `stdann` does (`stdann.errors.run_command`), so that nothing in
stdann.train imports the command line or the analysis above it.
"""

import argparse
import sys

from stdann.errors import run_command
from stdann.train import commands

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m stdann.train")
    commands.register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    sys.exit(run_command(parser.parse_args(["train", *sys.argv[1:]])))
