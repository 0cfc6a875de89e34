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
    simtrial.mde(sc, n_per_arm=20, target_power=0.8).mde
    simtrial.run(sc).summary()
"""

from typing import TYPE_CHECKING

# The public API is imported on first use (PEP 562), not here: numpy, scipy and pandas take one
# to two seconds to import, and `python -m simtrial` imports this package before the command
# line can catch Ctrl-C, so an eager import made an early Ctrl-C a 35-line traceback.
_API = {"SimtrialError": "errors", "ScenarioError": "errors", "EvidenceError": "errors",
        "Scenario": "scenario", "load_scenario": "scenario", "parse_scenario": "scenario",
        "DesignModel": "model.design", "build_design": "model.design",
        "PointResult": "oc.results", "RunResult": "oc.results", "SampleSize": "oc.results",
        "power": "oc.run", "run": "oc.run", "sample_size": "oc.run", "simulate": "oc.run",
        "mde": "oc.run", "MinimumEffect": "oc.mde", "compare": "oc.run",
        "Comparison": "oc.compare"}

__all__ = ["__version__", "SimtrialError", "ScenarioError", "EvidenceError", "Scenario",
           "load_scenario", "parse_scenario", "DesignModel", "build_design", "simulate", "power",
           "sample_size", "mde", "run", "PointResult", "RunResult", "SampleSize",
           "MinimumEffect", "compare", "Comparison"]

if TYPE_CHECKING:
    from .errors import EvidenceError, ScenarioError, SimtrialError
    from .scenario import Scenario, load_scenario, parse_scenario
    from .model.design import DesignModel, build_design
    from .oc.compare import Comparison
    from .oc.mde import MinimumEffect
    from .oc.results import PointResult, RunResult, SampleSize
    from .oc.run import compare, mde, power, run, sample_size, simulate


def __getattr__(name: str):
    from importlib import import_module
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version
        try:
            value = version("simtrial")
        except PackageNotFoundError:     # running from a source tree without installation
            value = "0.2.0"
    elif name in _API:
        value = getattr(import_module(f"{__name__}.{_API[name]}"), name)
    elif not name.startswith("_"):
        try:            # a subpackage, as `import simtrial; simtrial.errors` found it before
            value = import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
