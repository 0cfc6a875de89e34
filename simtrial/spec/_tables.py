"""The name tables the spec validates against: presets, baseline variables, visits, outcomes.

The only place :mod:`simtrial.spec` reaches outside itself (besides :mod:`simtrial.errors`):
``presets`` imports nothing from simtrial and ``outcomes`` only ``presets`` (plus numpy/scipy),
so the spec stays upstream of the model. (On the engine branch both live in simtrial/model/:
after the merge, change the two imports below to ``..model.outcomes`` / ``..model.presets``.)
"""

from __future__ import annotations

from ..outcomes import OUTCOMES
from ..presets import PRESET_POPULATION, PRESETS, VARIABLES, VISITS

__all__ = ["OUTCOMES", "PRESET_POPULATION", "PRESETS", "VARIABLES", "VISITS"]
