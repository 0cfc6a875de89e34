"""simtrial: patient-level clinical-trial simulator for MSC therapy in type 1 and type 2 diabetes.

The package reads top to bottom as the workflow::

    scenario -> evidence -> population -> outcomes -> model -> engine/analysis -> power -> outputs

Quick use::

    import simtrial
    sc = simtrial.load_scenario("scenarios/t1d_hba1c_12m.toml")
    res = simtrial.power(sc, n_per_arm=40)
    res.to_frame()
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("simtrial")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.1.0"

from .errors import EvidenceError, ScenarioError, SimtrialError  # noqa: E402
from .scenario import Scenario, load_scenario, parse_scenario  # noqa: E402

__all__ = ["__version__", "SimtrialError", "ScenarioError", "EvidenceError", "Scenario",
           "load_scenario", "parse_scenario"]
