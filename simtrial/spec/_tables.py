"""The name tables the spec validates against: presets, baseline variables, visits, outcomes.

The only place :mod:`simtrial.spec` reaches outside itself (besides :mod:`simtrial.errors`):
``presets`` imports nothing from simtrial and ``outcomes`` only ``presets`` (plus numpy/scipy),
so the spec stays upstream of the rest of the model (``tests/test_layers.py``).
"""

from __future__ import annotations

from ..model.outcomes import OUTCOMES
from ..model.presets import PRESET_POPULATION, PRESETS, VARIABLES, VISITS

__all__ = ["OUTCOMES", "PRESET_POPULATION", "PRESETS", "VARIABLES", "VISITS"]
