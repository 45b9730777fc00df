"""`stdann positions init` and `stdann positions optimize`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from stdann.config import add_override_argument
from stdann.topo.errors import ResponsesError, TopographyError
from stdann.topo.initial import initial_positions
from stdann.topo.positions import BlockPositions, positions_path, save_positions
from stdann.topo.sheets import load_topography_config
from stdann.topo.swap import swap_optimize


def register(sub: argparse._SubParsersAction) -> None:
    positions = sub.add_parser("positions", help="unit positions on the cortical sheets")
    commands = positions.add_subparsers(dest="positions_command", required=True, metavar="STEP")

    init = commands.add_parser(
        "init", help="retinotopic initial positions and neighbourhoods of every block"
    )
    init.add_argument("--config", required=True, type=Path, help="experiment config (YAML)")
    add_override_argument(init)
    init.add_argument("--out", required=True, type=Path, help="folder for the .npz files")
    init.add_argument("--seed", type=int, default=None, help="override the config's seed")
    init.set_defaults(run=run_init)

    opt = commands.add_parser(
        "optimize", help="swap-optimise positions on responses to a stimulus set"
    )
    opt.add_argument(
        "--responses",
        required=True,
        type=Path,
        help="R.npy (stimuli x units, one block: give --block) or R.npz (one array per block name)",
    )
    opt.add_argument("--positions", required=True, type=Path, help="folder of initial positions")
    opt.add_argument("--out", required=True, type=Path, help="folder for the optimised positions")
    opt.add_argument("--block", help="the block an .npy file holds responses of")
    opt.add_argument("--config", type=Path, help="experiment config for the swap settings")
    opt.add_argument("--steps", type=int, help="proposed swaps per block (default: config, or 50M)")
    opt.add_argument("--steps-per-window", type=int, default=None)
    opt.add_argument("--seed", type=int, default=None, help="default: the config's seed, or 0")
    opt.add_argument(
        "--allow-constant-units",
        action="store_true",
        help="treat units with zero-variance responses as uncorrelated instead of failing",
    )
    opt.set_defaults(run=run_optimize)


def run_init(args: argparse.Namespace) -> int:
    try:
        config = load_topography_config(args.config, args.overrides)
        written = save_positions(args.out, initial_positions(config, seed=args.seed))
    except TopographyError as err:
        print(f"stdann positions init: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def _load_responses(path: Path, block: str | None) -> dict[str, np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ResponsesError(f"'{path}': no such responses file") from None
    except (OSError, ValueError) as err:
        raise ResponsesError(
            f"'{path}': cannot be read as .npy/.npz without pickle: {err}"
        ) from None
    if isinstance(data, np.ndarray):
        if block is None:
            raise ResponsesError(f"'{path}' holds one array: say which block it is with --block")
        return {block: data}
    with data:
        arrays = {k: data[k] for k in data.files}
    if block is not None:
        if block not in arrays:
            raise ResponsesError(f"'{path}' has no array {block!r} (it has {sorted(arrays)})")
        return {block: arrays[block]}
    return arrays


def run_optimize(args: argparse.Namespace) -> int:
    try:
        # The swap settings come from the config when one is given (TDANN's
        # values otherwise); options on the command line override both.
        steps, per_window, max_units, seed = 50_000_000, 500, 500, 0
        if args.config is not None:
            config = load_topography_config(args.config)
            steps, per_window = config.swap_steps, config.swap_steps_per_window
            max_units, seed = config.max_units, config.seed
        steps = args.steps if args.steps is not None else steps
        per_window = args.steps_per_window or per_window
        seed = args.seed if args.seed is not None else seed
        responses = _load_responses(args.responses, args.block)
        sources = sorted(args.positions.glob("*.npz"))
        if not sources:
            raise ResponsesError(f"'{args.positions}' holds no positions files (*.npz)")
        for src in sources:
            positions = BlockPositions.load(src)
            if positions.block in responses:
                positions, stats = swap_optimize(
                    responses.pop(positions.block),
                    positions,
                    steps=steps,
                    steps_per_window=per_window,
                    max_units=max_units,
                    seed=seed,
                    allow_constant_units=args.allow_constant_units,
                    progress=True,
                    source=f"'{args.responses}'",
                )
                print(
                    f"{positions.block}: {stats['swaps_accepted']} of {stats['steps_done']} "
                    f"swaps accepted in {stats['windows']} windows",
                    file=sys.stderr,
                )
            print(positions.save(positions_path(args.out, positions.block)))
        if responses:
            raise ResponsesError(
                f"'{args.responses}': no positions in '{args.positions}' for {sorted(responses)}"
            )
    except TopographyError as err:
        print(f"stdann positions optimize: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    return 0
