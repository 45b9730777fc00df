"""The r3d_18 backbone with named blocks."""

from stdann.model.backbone import (
    BLOCK_NAMES,
    block_output_shapes,
    named_blocks,
    r3d18_backbone,
    unit_shapes,
)

__all__ = ["BLOCK_NAMES", "block_output_shapes", "named_blocks", "r3d18_backbone", "unit_shapes"]
