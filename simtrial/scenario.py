"""Scenario files: TOML validated once into frozen objects (re-exported from :mod:`simtrial.spec`).

The declarations, validation and serialisation live in :mod:`simtrial.spec.scenario`; the key
reference is ``docs/scenario-keys.md``. This module keeps the old import path
(``from simtrial.scenario import Scenario, load_scenario, parse_scenario, ...``) working.
"""

from .spec._fields import (check_keys as _check_keys, choice as _choice,  # noqa: F401
                           err as _err, integer as _int, number as _float, table as _table)
from .spec.scenario import *  # noqa: F401,F403
from .spec.scenario import __all__  # noqa: F401
