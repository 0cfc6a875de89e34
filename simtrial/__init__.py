"""simtrial: patient-level clinical-trial simulator for MSC therapy in type 1 and type 2 diabetes.

The package reads top to bottom as the workflow (each layer imports only the layers above it)::

    spec (scenario)  ->  model (populations, outcomes, evidence, design)  ->  stats
        ->  sim (two kernels, one driver)  ->  oc (results, sample size, run)
        ->  present (plots, reports, lessons), cli, batch

Quick use::

    import simtrial
    sc = simtrial.load_scenario("scenarios/t1d_hba1c_12m.toml")
    res = simtrial.power(sc, n_per_arm=40)
    res.to_frame()
    simtrial.sample_size(sc, 0.8).n_per_arm
    simtrial.run(sc).summary()
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("simtrial")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.2.0"

from .errors import EvidenceError, ScenarioError, SimtrialError  # noqa: E402
from .scenario import Scenario, load_scenario, parse_scenario  # noqa: E402
from .model.design import DesignModel, build_design  # noqa: E402
from .oc.results import PointResult, RunResult, SampleSize  # noqa: E402
from .oc.run import power, run, sample_size, simulate  # noqa: E402

__all__ = ["__version__", "SimtrialError", "ScenarioError", "EvidenceError", "Scenario",
           "load_scenario", "parse_scenario", "DesignModel", "build_design", "simulate", "power",
           "sample_size", "run", "PointResult", "RunResult", "SampleSize"]
