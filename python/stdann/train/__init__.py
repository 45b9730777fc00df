"""Training: MoCo with the spatial loss, checkpoints, the recipe's stages."""

from stdann.train.errors import NonFiniteLossError, TrainingError
from stdann.train.loop import TrainResult, train
from stdann.train.recipe import run_recipe

__all__ = ["NonFiniteLossError", "TrainResult", "TrainingError", "run_recipe", "train"]
