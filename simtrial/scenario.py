"""Scenario files: TOML validated once into frozen objects (re-exported from :mod:`simtrial.spec`).

The validation and the key reference live in :mod:`simtrial.spec.scenario`; this module keeps the
old import path (``from simtrial.scenario import Scenario, load_scenario, ...``) working.
"""

from .spec.scenario import *  # noqa: F401,F403
from .spec.scenario import __all__  # noqa: F401
