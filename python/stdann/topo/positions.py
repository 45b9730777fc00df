"""Positions of one block's units on its cortical sheet, saved as .npz.

A file holds the coordinates of every unit (mm, flattened (C, H, W) order),
the precomputed neighbourhoods (a fixed-shape array of unit indices, one row
per window), the sheet side and neighbourhood width in mm, the block and area
names, and a format version. Files are never pickled and are written
atomically (temporary file, then rename).

A model folder holds the positions of all its blocks in one safetensors file
instead (`save_positions_safetensors`), which any language can read: the
arrays as tensors, the rest as metadata.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stdann.atomic import atomic_write
from stdann.topo.errors import PositionsFileError, PositionsMismatchError

FORMAT_VERSION = 1
_KEYS = (
    "format_version",
    "block",
    "area",
    "unit_shape",
    "coordinates",
    "neighbourhoods",
    "sheet_side_mm",
    "neighbourhood_width_mm",
)


@dataclass
class BlockPositions:
    """Where each unit of one block sits, and the block's precomputed neighbourhoods."""

    block: str
    area: str
    unit_shape: tuple[int, int, int]
    coordinates: np.ndarray
    neighbourhoods: np.ndarray
    sheet_side_mm: float
    neighbourhood_width_mm: float

    def __post_init__(self) -> None:
        self.unit_shape = tuple(int(n) for n in self.unit_shape)
        self.coordinates = np.asarray(self.coordinates, dtype=np.float64)
        self.neighbourhoods = np.asarray(self.neighbourhoods)
        self.sheet_side_mm = float(self.sheet_side_mm)
        self.neighbourhood_width_mm = float(self.neighbourhood_width_mm)
        where = f"positions of {self.block}"
        if len(self.unit_shape) != 3 or min(self.unit_shape) < 1:
            raise PositionsMismatchError(
                f"{where}: unit shape must be (C, H, W), got {self.unit_shape}"
            )
        n = self.n_units
        if self.coordinates.shape != (n, 2):
            raise PositionsMismatchError(
                f"{where}: coordinates have shape {self.coordinates.shape}, expected ({n}, 2) "
                f"for units of shape {self.unit_shape}"
            )
        if not np.isfinite(self.coordinates).all():
            raise PositionsMismatchError(f"{where}: coordinates are not all finite")
        if self.coordinates.min() < 0 or self.coordinates.max() > self.sheet_side_mm:
            raise PositionsMismatchError(
                f"{where}: coordinates leave the sheet [0, {self.sheet_side_mm:.4g}] mm"
            )
        if not 0 < self.neighbourhood_width_mm <= self.sheet_side_mm:
            raise PositionsMismatchError(
                f"{where}: neighbourhood width {self.neighbourhood_width_mm} mm does not fit "
                f"the sheet side {self.sheet_side_mm:.4g} mm"
            )
        nb = self.neighbourhoods
        if (
            nb.ndim != 2
            or nb.shape[0] < 1
            or nb.shape[1] < 2
            or not np.issubdtype(nb.dtype, np.integer)
        ):
            raise PositionsMismatchError(
                f"{where}: neighbourhoods must be a (windows, units) integer array, "
                f"got {nb.dtype} {nb.shape}"
            )
        if nb.min() < 0 or nb.max() >= n:
            raise PositionsMismatchError(f"{where}: neighbourhood indices outside [0, {n})")

    @property
    def n_units(self) -> int:
        c, h, w = self.unit_shape
        return c * h * w

    def check_unit_shape(self, unit_shape: tuple[int, int, int], source: str = "") -> None:
        """Raise PositionsMismatchError unless these positions are for units of `unit_shape`."""
        if tuple(unit_shape) != self.unit_shape:
            expected = int(np.prod(unit_shape))
            raise PositionsMismatchError(
                f"{source or 'positions'} of {self.block}: made for units {self.unit_shape} "
                f"({self.n_units} units) but the model's block has {tuple(unit_shape)} "
                f"({expected} units)"
            )

    def permuted(self, slot_of_unit: np.ndarray) -> BlockPositions:
        """The positions after unit u moved to the original position slot_of_unit[u].

        Neighbourhoods are sets of positions: the same windows now hold other
        units, so their unit indices are remapped through the permutation.
        """
        slot_of_unit = np.asarray(slot_of_unit, dtype=np.int64)
        if slot_of_unit.shape != (self.n_units,) or not np.array_equal(
            np.sort(slot_of_unit), np.arange(self.n_units)
        ):
            raise PositionsMismatchError(
                f"{self.block}: slot_of_unit is not a permutation of the units"
            )
        unit_at = np.empty_like(slot_of_unit)
        unit_at[slot_of_unit] = np.arange(self.n_units)
        return BlockPositions(
            block=self.block,
            area=self.area,
            unit_shape=self.unit_shape,
            coordinates=self.coordinates[slot_of_unit],
            neighbourhoods=unit_at[self.neighbourhoods].astype(self.neighbourhoods.dtype),
            sheet_side_mm=self.sheet_side_mm,
            neighbourhood_width_mm=self.neighbourhood_width_mm,
        )

    def save(self, path: str | Path) -> Path:
        """Write an .npz atomically: a temporary file in the same folder, then a rename."""
        return atomic_write(
            path,
            lambda f: np.savez(
                f,
                format_version=np.int64(FORMAT_VERSION),
                block=np.str_(self.block),
                area=np.str_(self.area),
                unit_shape=np.asarray(self.unit_shape, dtype=np.int64),
                coordinates=self.coordinates,
                neighbourhoods=self.neighbourhoods,
                sheet_side_mm=np.float64(self.sheet_side_mm),
                neighbourhood_width_mm=np.float64(self.neighbourhood_width_mm),
            ),
        )

    @classmethod
    def load(cls, path: str | Path) -> BlockPositions:
        """Read an .npz written by `save`; any problem is a PositionsFileError naming the file."""
        path = Path(path)
        try:
            # The file is opened here so that it is closed even when np.load fails.
            with open(path, "rb") as fh:
                data = np.load(fh, allow_pickle=False)
                if not isinstance(data, np.lib.npyio.NpzFile):
                    raise PositionsFileError(f"'{path}': a single array, not an .npz archive")
                missing = [k for k in _KEYS if k not in data.files]
                if "format_version" in missing:
                    raise PositionsFileError(
                        f"'{path}': no format_version: not a stdann positions file, or one "
                        f"older than format {FORMAT_VERSION}"
                    )
                version = int(data["format_version"])
                if version != FORMAT_VERSION:
                    raise PositionsFileError(
                        f"'{path}': positions format {version}, this stdann reads format "
                        f"{FORMAT_VERSION}; run `stdann positions init` again"
                    )
                if missing:
                    raise PositionsFileError(f"'{path}': missing arrays {missing}")
                fields = {k: data[k] for k in _KEYS[1:]}
                data.close()
        except PositionsFileError:
            raise
        except FileNotFoundError:
            raise PositionsFileError(f"'{path}': no such positions file") from None
        except ValueError as err:  # pickled object arrays land here with allow_pickle=False
            raise PositionsFileError(f"'{path}': cannot be read without pickle: {err}") from None
        except (OSError, zipfile.BadZipFile, EOFError) as err:
            raise PositionsFileError(f"'{path}': corrupt or truncated .npz ({err})") from None
        try:
            return cls(
                block=str(fields["block"]),
                area=str(fields["area"]),
                unit_shape=tuple(fields["unit_shape"].tolist()),
                coordinates=fields["coordinates"],
                neighbourhoods=fields["neighbourhoods"],
                sheet_side_mm=float(fields["sheet_side_mm"]),
                neighbourhood_width_mm=float(fields["neighbourhood_width_mm"]),
            )
        except (PositionsMismatchError, TypeError, ValueError) as err:
            raise PositionsFileError(f"'{path}': {err}") from None


def positions_path(folder: str | Path, block: str) -> Path:
    """Where the positions of `block` live inside a positions folder."""
    return Path(folder) / f"{block}.npz"


def save_positions(folder: str | Path, positions: dict[str, BlockPositions]) -> list[Path]:
    """Write one .npz per block into `folder`."""
    return [p.save(positions_path(folder, block)) for block, p in positions.items()]


def load_positions(
    folder: str | Path, unit_shapes: dict[str, tuple[int, int, int]]
) -> dict[str, BlockPositions]:
    """Read the positions of every block in `unit_shapes`, checked against those shapes."""
    out = {}
    for block, shape in unit_shapes.items():
        path = positions_path(folder, block)
        p = BlockPositions.load(path)
        if p.block != block:
            raise PositionsFileError(f"'{path}': holds positions of {p.block!r}, not {block!r}")
        p.check_unit_shape(shape, source=f"'{path}'")
        out[block] = p
    return out


#: The `format` metadata of a positions.safetensors file.
SAFETENSORS_FORMAT = "stdann-positions-1"


def positions_to_safetensors(positions: dict[str, BlockPositions]) -> bytes:
    """Every block's positions as one safetensors file's bytes.

    Tensors `BLOCK.coordinates` (float64, units x 2, mm) and
    `BLOCK.neighbourhoods` (unit indices, windows x units, dtype kept);
    metadata (str -> str, as safetensors allows) `format`, `blocks` (a JSON
    list, in order) and per block a JSON object with `area`, `unit_shape`,
    `sheet_side_mm` and `neighbourhood_width_mm`. JSON writes a float with
    the shortest digits that read back as the same double, so the sheet
    geometry survives exactly.
    """
    from safetensors.numpy import save

    tensors: dict[str, np.ndarray] = {}
    metadata = {"format": SAFETENSORS_FORMAT, "blocks": json.dumps(list(positions))}
    for block, p in positions.items():
        if p.block != block:
            raise PositionsMismatchError(f"positions of {p.block!r} filed under {block!r}")
        tensors[f"{block}.coordinates"] = np.ascontiguousarray(p.coordinates)
        tensors[f"{block}.neighbourhoods"] = np.ascontiguousarray(p.neighbourhoods)
        metadata[block] = json.dumps(
            {
                "area": p.area,
                "unit_shape": list(p.unit_shape),
                "sheet_side_mm": p.sheet_side_mm,
                "neighbourhood_width_mm": p.neighbourhood_width_mm,
            }
        )
    return save(tensors, metadata=metadata)


def save_positions_safetensors(path: str | Path, positions: dict[str, BlockPositions]) -> Path:
    """Write every block's positions into one safetensors file, atomically."""
    data = positions_to_safetensors(positions)
    return atomic_write(path, lambda f: f.write(data))


def load_positions_safetensors(
    path: str | Path, unit_shapes: dict[str, tuple[int, int, int]] | None = None
) -> dict[str, BlockPositions]:
    """The positions written by `save_positions_safetensors`, every block of the
    file (checked against `unit_shapes` where given: each block there must be
    in the file, with those units). Any problem is a PositionsFileError naming
    the file, or a PositionsMismatchError for units of another shape."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise PositionsFileError(f"'{path}': no such positions file")
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            names = set(f.keys())
            if metadata.get("format") != SAFETENSORS_FORMAT:
                raise PositionsFileError(
                    f"'{path}': not a stdann positions file (metadata format "
                    f"{metadata.get('format')!r}, expected {SAFETENSORS_FORMAT!r})"
                )
            blocks = json.loads(metadata["blocks"])
            arrays = {}
            for block in blocks:
                for kind in ("coordinates", "neighbourhoods"):
                    name = f"{block}.{kind}"
                    if name not in names:
                        raise PositionsFileError(f"'{path}': no tensor {name!r}")
                    arrays[name] = f.get_tensor(name)
    except PositionsFileError:
        raise
    except (KeyError, ValueError, TypeError) as err:  # json.JSONDecodeError is a ValueError
        raise PositionsFileError(f"'{path}': unreadable metadata ({err})") from None
    except Exception as err:  # safetensors' own error for a truncated or foreign file
        raise PositionsFileError(f"'{path}': not a readable safetensors file ({err})") from None
    out = {}
    for block in blocks:
        try:
            geometry = json.loads(metadata[block])
            out[block] = BlockPositions(
                block=block,
                area=geometry["area"],
                unit_shape=tuple(geometry["unit_shape"]),
                coordinates=arrays[f"{block}.coordinates"],
                neighbourhoods=arrays[f"{block}.neighbourhoods"],
                sheet_side_mm=geometry["sheet_side_mm"],
                neighbourhood_width_mm=geometry["neighbourhood_width_mm"],
            )
        except (KeyError, ValueError, TypeError) as err:
            raise PositionsFileError(f"'{path}': block {block}: {err}") from None
    for block, shape in (unit_shapes or {}).items():
        if block not in out:
            raise PositionsFileError(f"'{path}': no positions of {block}")
        out[block].check_unit_shape(shape, source=f"'{path}'")
    return out
