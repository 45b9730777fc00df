"""`stdann positions init` and `stdann positions optimize`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from stdann.config import add_override_argument, load_config
from stdann.topo.errors import ResponsesError
from stdann.topo.initial import initial_positions
from stdann.topo.positions import BlockPositions, positions_path, save_positions
from stdann.topo.swap import swap_optimize, swap_settings


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
    # The name errors are reported under (a subcommand's own `command`).
    init.set_defaults(run=run_init, command="positions init")

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
    opt.add_argument(
        "--config",
        type=Path,
        help="experiment config for the swap settings (topography.swap, "
        "topography.neighbourhoods.max_units, seed); without one, TDANN's (the Rust core's)",
    )
    opt.add_argument("--steps", type=int, help="proposed swaps per block (default: as above)")
    opt.add_argument("--steps-per-window", type=int, help="default: as above")
    opt.add_argument("--seed", type=int, help="default: as above")
    opt.add_argument(
        "--allow-constant-units",
        action="store_true",
        help="treat units with zero-variance responses as uncorrelated instead of failing",
    )
    opt.set_defaults(run=run_optimize, command="positions optimize")


def run_init(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    written = save_positions(args.out, initial_positions(config, seed=args.seed))
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
    # The swap settings come from the config when one is given (the core's,
    # TDANN's, otherwise); options on the command line override both.
    settings = swap_settings(load_config(args.config)) if args.config is not None else {}
    for key in ("steps", "steps_per_window", "seed"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
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
                **settings,
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
    return 0
