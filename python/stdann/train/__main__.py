"""`python -m stdann.train ...` is `stdann train ...`: the entry point for torchrun.

torchrun --nproc_per_node=8 -m stdann.train --config configs/paper.yaml --out runs/x
"""

import sys

from stdann.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
