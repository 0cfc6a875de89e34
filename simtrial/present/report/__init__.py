"""`simtrial report`: one self-contained HTML report of a run folder.

The report reads what `simtrial run` wrote (``results.csv`` and ``manifest.json``) and
re-simulates only what those files do not hold, deterministically from the manifest's scenario
and seed with the same engine:

- the per-trial estimates at the design N (sampling distribution of the estimated effect): the
  design-point power / mean estimate recomputed from them must equal ``results.csv``, so a report
  can never silently describe a different simulation (other simtrial version, edited files);
- one trial's patients (trajectories at 0/3/6/12 months): replicate trial 1 of the run itself
  (:func:`simtrial.sim.full.one_trial`, the run's streams), with its dropout;
- the closed-form power / assurance curve at every N (cheap formulas,
  :func:`simtrial.oc.results.closed_form_power`).

One module per job: ``load`` (the run folder), ``figures`` (figure data), ``assumptions`` (the
assumptions table), ``build`` (prose, sections, writing). Compute here, plot in
:mod:`simtrial.present.plots`, lay out with :mod:`simtrial.present.html`. Each figure's
data is a small frozen dataclass (:class:`EvidenceForest`, :class:`PowerCurves`,
:class:`Trajectories`, :class:`SamplingDistribution`) that the plot functions draw as is.

Flags in the assumptions table: every number is ``reported`` (read from a paper), ``derived``
(computed from reported numbers; the route is given) or ``assumed`` (chosen by the preset or the
scenario author). A source text that mixes flags gets the weakest one it mentions
(assumed < derived < reported).
"""

from __future__ import annotations

from .assumptions import assumptions_table
from .build import build_report, write_report
from .figures import (ArmTrajectory, CurveSeries, EvidenceForest, PowerCurves,
                      SamplingDistribution, Trajectories, curve_data, evidence_forest,
                      sampling_data, sampling_distribution, trajectory_data)
from .load import MAX_PATIENTS_SHOWN, REPORT_FILE, RunFolder, load_run

__all__ = ["RunFolder", "load_run", "build_report", "write_report", "EvidenceForest",
           "CurveSeries", "PowerCurves", "ArmTrajectory", "Trajectories", "SamplingDistribution",
           "evidence_forest", "assumptions_table", "sampling_distribution", "curve_data",
           "sampling_data", "trajectory_data", "REPORT_FILE", "MAX_PATIENTS_SHOWN"]
