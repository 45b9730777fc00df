"""The primate numbers a report sets beside the model, each with where it was read.

Every `Baseline` carries its source and the exact words its value was read in,
so that a report can quote them; nothing here is derived, converted or
remembered. A value is a number, a (low, high) range, or the source's own
qualitative words where it gives no number. `species` says which primate
(macaque, owl monkey, Cebus, marmoset) and "not stated in the words" where the
words read do not say; `area` is the cortical area. A "not seen" in a source
is a part of the citation that was not on the page read.

The model's MT sheet (50 mm^2) is listed too, beside the macaque's measured MT
(33 mm^2), because the two differ and a report shows both; it comes second-hand
from summaries of the paper, not its text, and says so (`second_hand`).

`NO_BASELINE` lists the measures a report shows for which no source has been
read yet, each with the reason, so that a report says so instead of inventing
a value. Add a baseline only from a source you have read, with its words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stdann.errors import StdannError

#: What `species` says where the words read do not name the animal.
NOT_STATED = "not stated in the words"


class BaselineError(StdannError, ValueError):
    """A baseline without a source, exact words, or a value of a known kind."""


@dataclass(frozen=True)
class Baseline:
    """One number (or range, or qualitative finding) read in a source."""

    quantity: str
    value: float | tuple[float, float] | str
    unit: str
    conditions: str
    source: str
    exact_words: str
    species: str
    area: str
    second_hand: bool = False

    def __post_init__(self) -> None:
        for field in ("quantity", "unit", "conditions", "source", "exact_words", "species", "area"):
            if not str(getattr(self, field)).strip():
                raise BaselineError(f"baseline {self.quantity!r}: {field} is empty")
        v = self.value
        number = isinstance(v, int | float) and not isinstance(v, bool)
        span = (
            isinstance(v, tuple)
            and len(v) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
            and v[0] <= v[1]
        )
        if not (number or span or (isinstance(v, str) and v.strip())):
            raise BaselineError(
                f"baseline {self.quantity!r}: value must be a number, a (low, high) range "
                f"or qualitative words, got {v!r}"
            )

    @property
    def is_numeric(self) -> bool:
        """True for a number or a range, False for qualitative words."""
        return not isinstance(self.value, str)


@dataclass(frozen=True)
class NoBaseline:
    """A measure a report shows with no sourced primate value yet, and why."""

    quantity: str
    reason: str


_MAUNSELL_1983 = "Maunsell & Van Essen 1983, J Neurophysiol 49:1127"
_MAUNSELL_1983_CONDITIONS = "168 units, anesthetized, paralyzed macaque"
_VAN_ESSEN_1981 = "Van Essen, Maunsell & Bixby 1981, J Comp Neurol 199:293"
_VAN_ESSEN_1981_WORDS = (
    "Its average surface area is 33 mm2, which is less than 3% of the size of striate cortex."
)
_WANDELL = "Wandell, Foundations of Vision, ch. 10"
_WANDELL_PLAIDS = (
    "approximately 25% of the neurons in area MT were pattern-selective, half the neurons "
    "were classified as component-selective and the rest could not be classified."
)
_WANDELL_DIRECTION = (
    "about one-quarter of the neurons in area V1 are direction selective ... Area MT appears "
    "to be the first area in which the vast majority of neurons ... are direction selective."
)
_CEBUS_2002 = "An Acad Bras Cienc 2002, scielo S0001-37652002000300009 (authors not seen)"
_SITES_2020 = "An Acad Bras Cienc 2020, scielo S0001-37652020000300711 (authors not seen)"
_SITES_2020_WORDS = (
    "Type I (34%), Type II (24%) and Type DS (32%) clusters were the most predominant ... "
    "the rarer Type OS (9%)"
)
_SITES_2020_CONDITIONS = "585 multiunit clusters; the classes as the paper defines them"
_LAGAE_1993 = (
    "Lagae, Raiguel & Orban, 'Speed and direction selectivity of macaque middle temporal "
    "neurons' (J Neurophysiol 1993; journal and year not seen on the page)"
)
_LAGAE_WORDS = (
    "SR curves were classified into three groups: low pass (25%), tuned (43%), and broadband "
    "(28%), leaving 4% unclassified."
)
_LAGAE_CONDITIONS = "147 cells, light and dark bars at 0.5-512 deg/s"
_PRIEBE_2003 = "Priebe, Cassanello & Lisberger 2003, J Neurosci 23:5650"
_PRIEBE_WORDS = (
    "There is some dependence in 75% of MT neurons, and the other 25% maintain speed tuning "
    "despite changes in spatial frequency."
)
_ANDERSON_2003 = "Anderson, Nover & DeAngelis 2003, J Vision 3(9):404 (VSS abstract)"
_ANDERSON_WORDS = (
    "The fits produced tightly clustered values for sigma_s (mean =1.22) and v0 (mean = 0.30 "
    "deg/sec) across a population of 501 MT neurons."
)
_OWL_MONKEY_1984 = (
    "J Neurophysiol 52:488 (1984), owl monkey MT receptive fields (Felleman & Kaas; authors "
    "not seen on the page)"
)
_OWL_MONKEY_WORDS = (
    "Over 70% of neurons were classified as highly selective and 90% showed some preference "
    "for direction and/or axis of stimulus movement."
)
_LU_2010 = "Lu et al. 2010, Neuron (volume and page not seen)"
_LU_WORDS = (
    "we found no direction maps in macaque V1. Robust direction maps, however, were found in "
    "V2 thick/pale stripes."
)

#: Every sourced value a report may set beside the model, in the order of the
#: project's list of sources.
BASELINES: tuple[Baseline, ...] = (
    Baseline(
        "mt_direction_selective_fraction_review",
        "almost all",
        "qualitative",
        "qualitative",
        "Movshon & Newsome 1992 (journal, volume and page not seen)",
        "almost all neurons in MT are direction selective",
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "mt_direction_selective_fraction",
        "most",
        "qualitative",
        "anesthetized macaque",
        "Smith, Majaj & Movshon 2005, Nat Neurosci 8:220",
        "Most neurons in macaque area MT are selective for the direction of stimulus motion.",
        "macaque",
        "MT",
    ),
    Baseline(
        "v1_direction_selective_fraction",
        25.0,
        "percent of neurons (about)",
        "textbook summary; the V1 figure from Hawken et al. 1988",
        _WANDELL,
        _WANDELL_DIRECTION,
        NOT_STATED,
        "V1",
    ),
    Baseline(
        "mt_direction_selective_fraction_textbook",
        "the vast majority",
        "qualitative",
        "textbook summary",
        _WANDELL,
        _WANDELL_DIRECTION,
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "mt_pattern_cell_fraction",
        25.0,
        "percent of neurons (approximately)",
        "plaids; restating Movshon et al. 1985",
        _WANDELL,
        _WANDELL_PLAIDS,
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "mt_component_cell_fraction",
        50.0,
        "percent of neurons ('half')",
        "plaids; restating Movshon et al. 1985",
        _WANDELL,
        _WANDELL_PLAIDS,
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "mt_orientation_to_direction_map_segregation",
        (3.0, 5.0),
        "times (segregation of orientation maps over that of direction maps)",
        "intrinsic-signal optical imaging",
        "Malonek, Tootell & Grinvald 1994, Proc R Soc B 258:109",
        "The degree of segregation in the orientation maps was 3-5 times that found in "
        "direction maps.",
        "owl monkey",
        "MT",
    ),
    Baseline(
        "mt_180_degree_reversals",
        "abrupt 180-degree discontinuities of preferred direction along electrode tracks",
        "qualitative",
        "tangential multi-electrode tracks, 200 um steps",
        _CEBUS_2002,
        "...abrupt 180º discontinuities along the electrode track.",
        "Cebus",
        "MT",
    ),
    Baseline(
        "mt_pinwheel_diameter",
        (800.0, 1400.0),
        "um",
        "tangential multi-electrode tracks, 200 um steps",
        _CEBUS_2002,
        "The pinwheel arrangements have 800-1400 µm in diameter.",
        "Cebus",
        "MT",
    ),
    Baseline(
        "mt_site_fraction_type_i",
        34.0,
        "percent of multiunit clusters",
        _SITES_2020_CONDITIONS,
        _SITES_2020,
        _SITES_2020_WORDS,
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "mt_site_fraction_type_ii",
        24.0,
        "percent of multiunit clusters",
        _SITES_2020_CONDITIONS,
        _SITES_2020,
        _SITES_2020_WORDS,
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "mt_site_fraction_direction_selective",
        32.0,
        "percent of multiunit clusters (Type DS)",
        _SITES_2020_CONDITIONS,
        _SITES_2020,
        _SITES_2020_WORDS,
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "mt_site_fraction_orientation_selective",
        9.0,
        "percent of multiunit clusters (Type OS)",
        _SITES_2020_CONDITIONS,
        _SITES_2020,
        _SITES_2020_WORDS,
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "pinwheel_density_orientation_maps",
        math.pi,
        "pinwheels per hypercolumn area (pi, approached)",
        "orientation maps of several species; Kaschube et al. 2010 as restated",
        "Kaschube et al. 2010, Science 330:1113, as restated by Meng, Tanaka & Poon 2012, "
        "Science 336:413",
        "the pinwheel density, defined as the average number of pinwheels per "
        "orientation-hypercolumn area, approaches a universal constant of π.",
        "several species",
        "V1 (orientation maps)",
    ),
    Baseline(
        "v1_pinwheel_spacing",
        0.35,
        "mm (square root of 1 / pinwheel density)",
        "from Obermayer & Blasdel 1993; a table row (animal / ... / spacing)",
        "Vis Neurosci 2017;34:E007, Table 4 (authors not seen)",
        "Macaque / 0.53 / 0.35",
        "macaque",
        "V1",
    ),
    Baseline(
        "mt_surface_area",
        33.0,
        "mm^2",
        "average over animals",
        _VAN_ESSEN_1981,
        _VAN_ESSEN_1981_WORDS,
        "macaque",
        "MT",
    ),
    Baseline(
        "mt_surface_area_relative_to_v1",
        "less than 3% of striate cortex",
        "qualitative (an upper bound)",
        "average over animals",
        _VAN_ESSEN_1981,
        _VAN_ESSEN_1981_WORDS,
        "macaque",
        "MT",
    ),
    Baseline(
        "model_mt_sheet_area",
        50.0,
        "mm^2",
        "the simulated cortical sheet of the model's MT-like block (layer3.1): a model "
        "parameter, not a measurement; compare mt_surface_area (33 mm^2)",
        "Gu, Li, Su, Liu, Qian & Wang 2026, arXiv 2605.11718; second-hand: read in summaries "
        "of the paper (the project's design notes), not in its text",
        "retina 5.7, V1 1180, V2 940, MT 50, LIP 56",
        "model",
        "MT",
        second_hand=True,
    ),
    Baseline(
        "v1_direction_maps",
        "none found",
        "qualitative",
        "optical imaging",
        _LU_2010,
        _LU_WORDS,
        "macaque",
        "V1",
    ),
    Baseline(
        "v2_direction_maps",
        "robust, in the thick/pale stripes",
        "qualitative",
        "optical imaging",
        _LU_2010,
        _LU_WORDS,
        "macaque",
        "V2",
    ),
    Baseline(
        "mt_preferred_to_opposite_response_ratio",
        10.9,
        "times (response above background, preferred over opposite direction; mean over units)",
        _MAUNSELL_1983_CONDITIONS,
        f"{_MAUNSELL_1983}, abstract item 2",
        "The response above background to stimuli moving in a unit's preferred direction was, "
        "an average, 10.9 times that to stimuli moving in the opposite direction.",
        "macaque",
        "MT",
    ),
    Baseline(
        "mt_preferred_direction_clustering",
        "nearby units have similar preferred directions",
        "qualitative",
        _MAUNSELL_1983_CONDITIONS,
        f"{_MAUNSELL_1983}, abstract item 2",
        "There was a marked tendency for nearby units to have similar preferred directions.",
        "macaque",
        "MT",
    ),
    Baseline(
        "mt_preferred_speed_peak",
        32.0,
        "deg/s (peak of a unimodal distribution, 'near')",
        _MAUNSELL_1983_CONDITIONS,
        f"{_MAUNSELL_1983}, abstract item 3",
        "The distribution of preferred speeds for different units was unimodal, with a peak "
        "near 32 degrees/s; the total range of preferred speeds extended from 2 to 256 "
        "degrees/s.",
        "macaque",
        "MT",
    ),
    Baseline(
        "mt_preferred_speed_range",
        (2.0, 256.0),
        "deg/s",
        _MAUNSELL_1983_CONDITIONS,
        f"{_MAUNSELL_1983}, abstract item 3",
        "The distribution of preferred speeds for different units was unimodal, with a peak "
        "near 32 degrees/s; the total range of preferred speeds extended from 2 to 256 "
        "degrees/s.",
        "macaque",
        "MT",
    ),
    Baseline(
        "mt_speed_tuning_width",
        7.7,
        "fold range of speed above half maximum (average)",
        _MAUNSELL_1983_CONDITIONS,
        f"{_MAUNSELL_1983}, abstract item 3",
        "on average, responses were greater than half-maximal only over a 7.7-fold range of speed.",
        "macaque",
        "MT",
    ),
    Baseline(
        "mt_orientation_perpendicular_to_direction",
        "preferred orientation usually perpendicular to preferred direction",
        "qualitative",
        "stationary flashed bars; " + _MAUNSELL_1983_CONDITIONS,
        f"{_MAUNSELL_1983}, abstract item 4",
        "The preferred orientation was usually, but not always, perpendicular to the preferred "
        "direction of movement.",
        "macaque",
        "MT",
    ),
    Baseline(
        "mt_speed_tuning_log_gaussian_sigma",
        1.22,
        "sigma_s of a Gaussian in log speed, in the fit's units (mean; compared with the "
        "model's sigma)",
        "501 MT neurons, random dots",
        _ANDERSON_2003,
        _ANDERSON_WORDS,
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "mt_speed_tuning_log_gaussian_offset",
        0.30,
        "deg/s (mean; their v0 is the offset constant s0 of the log-speed fit, "
        "q = (v + s0) / (v_pref + s0), not a preferred speed; compared with the model's "
        "offset_deg_per_s)",
        "501 MT neurons, random dots",
        _ANDERSON_2003,
        _ANDERSON_WORDS,
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "mt_speed_class_low_pass",
        25.0,
        "percent of cells",
        _LAGAE_CONDITIONS,
        _LAGAE_1993,
        _LAGAE_WORDS,
        "macaque",
        "MT",
    ),
    Baseline(
        "mt_speed_class_tuned",
        43.0,
        "percent of cells",
        _LAGAE_CONDITIONS,
        _LAGAE_1993,
        _LAGAE_WORDS,
        "macaque",
        "MT",
    ),
    Baseline(
        "mt_speed_class_broadband",
        28.0,
        "percent of cells",
        _LAGAE_CONDITIONS,
        _LAGAE_1993,
        _LAGAE_WORDS,
        "macaque",
        "MT",
    ),
    Baseline(
        "mt_speed_class_unclassified",
        4.0,
        "percent of cells",
        _LAGAE_CONDITIONS,
        _LAGAE_1993,
        _LAGAE_WORDS,
        "macaque",
        "MT",
    ),
    Baseline(
        "mt_preferred_speed_depends_on_spatial_frequency_fraction",
        75.0,
        "percent of neurons ('some dependence')",
        "sine gratings",
        _PRIEBE_2003,
        _PRIEBE_WORDS,
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "mt_speed_tuned_across_spatial_frequency_fraction",
        25.0,
        "percent of neurons",
        "sine gratings",
        _PRIEBE_2003,
        _PRIEBE_WORDS,
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "mt_highly_direction_selective_fraction_owl_monkey",
        "over 70%",
        "qualitative (a lower bound, percent of neurons)",
        "anesthetized, moving bars",
        _OWL_MONKEY_1984,
        _OWL_MONKEY_WORDS,
        "owl monkey",
        "MT",
    ),
    Baseline(
        "mt_direction_or_axis_preference_fraction_owl_monkey",
        90.0,
        "percent of neurons (some preference for direction and/or axis)",
        "anesthetized, moving bars",
        _OWL_MONKEY_1984,
        _OWL_MONKEY_WORDS,
        "owl monkey",
        "MT",
    ),
    Baseline(
        "mt_direction_sensitivity_plateau_near_threshold",
        45.0,
        "deg either side of the preferred-null axis (approximately)",
        "random dots at low coherence",
        "Britten & Newsome 1998, J Neurophysiol 80:762",
        "a plateau of high to medium sensitivity that extended ~45° on either side of the "
        "preferred-null axis.",
        NOT_STATED,
        "MT",
    ),
    Baseline(
        "mt_direction_map_geometry",
        "slow continuous change of preferred direction, with fractures and singularities",
        "qualitative",
        "tangential multi-electrode arrays",
        "J Neurosci 2003, 23:3881 (authors not seen on the page)",
        "the tangential organization of directional selectivity is characterized by slow "
        "continuous changes in directional preference, as well as lines (fractures) and points "
        "(singularities)",
        "Cebus",
        "MT",
    ),
)

#: Measures a report shows for which no primate value has been read yet.
NO_BASELINE: tuple[NoBaseline, ...] = (
    NoBaseline(
        "mt_dsi_distribution",
        "no per-cell DSI or DI distribution of MT has been read (Snowden, Treue & Andersen "
        "1992, Britten et al. 1992 and Wang & Movshon 2016 are unread leads); the mean "
        "preferred/opposite ratio of Maunsell & Van Essen 1983 is a mean of ratios and gives "
        "no DSI distribution",
    ),
    NoBaseline(
        "mt_direction_selective_fraction_at_a_dsi_criterion",
        "the sources read say 'most', 'almost all' or 'the vast majority' (owl monkey: 'over "
        "70%' highly selective), none at a stated DSI criterion; Albright 1984 (J Neurophysiol "
        "52:1106) is an unread lead",
    ),
    NoBaseline(
        "mt_circular_variance",
        "no MT circular variance has been read; only its definition (Ringach et al. 2002)",
    ),
    NoBaseline(
        "mt_axial_component",
        "no MT value of the residual axial (180-degree) component or of the bidirectional "
        "fraction has been read; owl-monkey MT has a bidirectional group but no number was "
        "read, and Albright 1984 is an unread lead",
    ),
    NoBaseline(
        "mt_direction_tuning_width",
        "no MT direction bandwidth or full width at half maximum has been read (Albright "
        "1984's mean direction bandwidth is an unread lead); the ~45 deg plateau of Britten & "
        "Newsome 1998 is near-threshold sensitivity, not a tuning width",
    ),
    NoBaseline(
        "mt_pinwheel_density",
        "no pinwheel density of an MT direction map has been read; pi per hypercolumn area is "
        "for orientation maps (Kaschube et al. 2010 as restated), whose measured mean density "
        "is an unread lead",
    ),
    NoBaseline(
        "mt_column_spacing",
        "no spacing of MT direction columns has been read (Albright, Desimone & Gross 1984, "
        "J Neurophysiol 51:16, is an unread lead); the Cebus pinwheel diameters are not a "
        "column spacing",
    ),
)


def baseline(quantity: str) -> Baseline | None:
    """The sourced baseline named `quantity`, or None if there is none (see
    `NO_BASELINE` for the measures known to lack one)."""
    return _BY_QUANTITY.get(quantity)


_BY_QUANTITY = {b.quantity: b for b in BASELINES}
if len(_BY_QUANTITY) != len(BASELINES):  # a name used twice would hide a baseline
    raise BaselineError("two baselines share a quantity name")
