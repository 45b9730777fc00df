"""Macaque baselines: every value has a source and the words it was read in."""

from __future__ import annotations

import math
import re
from dataclasses import FrozenInstanceError

import pytest

from stdann.analysis.macaque import (
    BASELINES,
    NO_BASELINE,
    Baseline,
    BaselineError,
    NoBaseline,
    baseline,
)

# Numbers the sources write in words.
SPELLED = {"one-quarter": 25.0, "half": 50.0, "π": math.pi}


def numbers_in(words: str) -> list[float]:
    """Every number in `words`, written in digits or as one of SPELLED."""
    found = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", words)]
    return found + [v for w, v in SPELLED.items() if re.search(rf"(?<![\w-]){w}(?![\w-])", words)]


def test_every_baseline_has_a_source_and_exact_words():
    assert len(BASELINES) >= 20
    for b in BASELINES:
        assert isinstance(b, Baseline)
        assert b.source.strip() and b.exact_words.strip(), b.quantity
        assert b.species.strip() and b.area.strip() and b.unit.strip(), b.quantity


@pytest.mark.parametrize("b", [b for b in BASELINES if b.is_numeric], ids=lambda b: b.quantity)
def test_exact_words_contain_the_number_they_support(b):
    values = b.value if isinstance(b.value, tuple) else (b.value,)
    in_words = numbers_in(b.exact_words)
    for v in values:
        assert any(math.isclose(v, w, rel_tol=1e-9) for w in in_words), (b.quantity, v)


def test_qualitative_values_are_words():
    qualitative = [b for b in BASELINES if not b.is_numeric]
    assert qualitative and all(isinstance(b.value, str) for b in qualitative)
    assert baseline("mt_direction_selective_fraction").value == "most"


def test_model_sheet_and_macaque_mt_area_are_separate_and_differ():
    model = baseline("model_mt_sheet_area")
    macaque = baseline("mt_surface_area")
    assert model is not None and macaque is not None
    assert (model.value, model.unit, model.second_hand) == (50.0, "mm^2", True)
    assert "second-hand" in model.source and "2605.11718" in model.source
    assert (macaque.value, macaque.unit, macaque.second_hand) == (33.0, "mm^2", False)
    assert macaque.source.startswith("Van Essen, Maunsell & Bixby 1981")
    assert macaque.species == "macaque" and model.species == "model"
    # Only the model's sheet is second-hand.
    assert [b.quantity for b in BASELINES if b.second_hand] == ["model_mt_sheet_area"]


def test_lookup():
    b = baseline("mt_preferred_to_opposite_response_ratio")
    assert b is not None and b.value == 10.9 and "abstract item 2" in b.source
    assert baseline("mt_preferred_speed_range").value == (2.0, 256.0)
    assert baseline("mt_circular_variance") is None  # listed in NO_BASELINE instead
    assert baseline("no such measure") is None
    assert len({b.quantity for b in BASELINES}) == len(BASELINES)
    assert all(baseline(b.quantity) is b for b in BASELINES)


def test_anderson_v0_is_the_offset_of_the_log_speed_fit_not_a_preferred_speed():
    offset = baseline("mt_speed_tuning_log_gaussian_offset")
    assert offset is not None and offset.value == 0.30 and offset.unit.startswith("deg/s")
    assert "offset" in offset.unit and "not a preferred speed" in offset.unit
    assert "offset_deg_per_s" in offset.unit  # the model quantity it is set beside
    assert "v0 (mean = 0.30" in offset.exact_words
    assert baseline("mt_speed_tuning_log_gaussian_v0") is None
    sigma = baseline("mt_speed_tuning_log_gaussian_sigma")
    assert sigma is not None and sigma.value == 1.22 and sigma.exact_words == offset.exact_words


def test_measures_without_a_baseline_say_why_and_have_none():
    names = {m.quantity for m in NO_BASELINE}
    assert {"mt_dsi_distribution", "mt_circular_variance", "mt_pinwheel_density"} <= names
    for m in NO_BASELINE:
        assert isinstance(m, NoBaseline) and m.reason.strip()
        assert baseline(m.quantity) is None


def test_a_baseline_without_source_or_with_a_bad_value_is_refused():
    args = dict(
        quantity="q",
        value=1.0,
        unit="u",
        conditions="c",
        source="s",
        exact_words="1.0",
        species="macaque",
        area="MT",
    )
    Baseline(**args)
    with pytest.raises(BaselineError, match="source is empty"):
        Baseline(**{**args, "source": " "})
    with pytest.raises(BaselineError, match="exact_words is empty"):
        Baseline(**{**args, "exact_words": ""})
    with pytest.raises(BaselineError, match="value must be"):
        Baseline(**{**args, "value": (5.0, 1.0)})
    with pytest.raises(BaselineError, match="value must be"):
        Baseline(**{**args, "value": None})
    with pytest.raises(FrozenInstanceError):
        BASELINES[0].value = 0.0
