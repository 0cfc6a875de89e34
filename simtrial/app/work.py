"""What the app computes, run in a worker process (:mod:`simtrial.app.jobs`).

Each job calls the engine exactly as the CLI does and sends plain, picklable data back through
a pipe: ``("stage", text, fraction)`` as it goes, then its results, then ``("done",)`` or
``("error", one_line)``. Nothing here writes a file.

- :func:`design_job`: ``simtrial power`` at the design N (:func:`simtrial.oc.run.power`, the
  numbers of ``simtrial power SCEN --n-per-arm N --seed S --n-trials R --json``), then
  ``simtrial run`` (:func:`simtrial.oc.run.run`: the power curve and the N for each target) and
  its run-folder files rendered in memory (:func:`simtrial.present.files.render_run`).
- :func:`lesson_job`: one lesson (:mod:`simtrial.present.lessons`) at the teacher's settings,
  its sections rendered to an HTML fragment.
"""

from __future__ import annotations

import base64
import html
import io
import os
import time
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")      # files only: never open a window

from ..errors import SimtrialError, one_line  # noqa: E402
from ..model.design import build_design  # noqa: E402
from ..oc.run import power, run  # noqa: E402
from ..oc.text import headline, sample_size_line  # noqa: E402
from ..present.files import render_run  # noqa: E402
from ..present.lessons import LESSONS, check_args, get_lesson  # noqa: E402
from ..scenario import parse_scenario  # noqa: E402

__all__ = ["design_job", "lesson_job", "point_data", "run_data", "Control", "LESSON_CONTROLS",
           "lesson_kwargs", "render_sections"]


# ---------------------------------------------------------------------------------------------
# a design: power at N, then the run
# ---------------------------------------------------------------------------------------------

def point_data(p) -> dict[str, Any]:
    """What the app shows of a :class:`~simtrial.oc.results.PointResult`: ``to_dict()`` (the
    CLI's ``power --json``), the headline sentence and the text summary."""
    return {"dict": p.to_dict(), "headline": headline(p), "summary": p.summary()}


def run_data(res) -> dict[str, Any]:
    """What the app keeps of a :class:`~simtrial.oc.results.RunResult`: the sample size for
    each target (``to_dict()`` and the CLI's line), the primary hypothesis's power curve (power,
    MC SE, closed form, assurance at every simulated N) and the run-folder files
    (``results.csv``, ``power_curve.png``, ``manifest.json``) as bytes."""
    label = res.design.hypotheses[0].label
    curve = []
    for p in res.curve:
        pw = p.curve_row("power", label)
        cf = p.curve_row("analytic_power", label)
        asr = p.curve_row("assurance", label)
        curve.append({"n": p.n_per_arm, "power": pw[0], "mc_se": pw[1],
                      "analytic": None if cf is None else cf[0],
                      "assurance": None if asr is None else asr[0],
                      "assurance_mc_se": None if asr is None else asr[1]})
    return {"sample_sizes": [dict(s.to_dict(), line=sample_size_line(s))
                             for s in res.sample_sizes],
            "curve": curve, "files": render_run(res, command=["simtrial", "app"]),
            "summary": res.summary(), "timings": dict(res.timings)}


def _send(conn, *msg) -> None:
    conn.send(msg)


def _guarded(conn, body) -> None:
    try:
        body()
        _send(conn, "done")
    except SimtrialError as exc:
        _send(conn, "error", one_line(str(exc)))
    except Exception as exc:  # an internal bug: one line, as the CLI prints it
        _send(conn, "error", one_line(f"internal error: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def design_job(data: dict, conn) -> None:
    """Worker: validate ``data``, power at the design N, then the run (see module doc)."""
    def body():
        t0 = time.perf_counter()
        _send(conn, "stage", "building the model", 0.05)
        sc = parse_scenario(data)
        dm = build_design(sc)
        _send(conn, "stage", f"power at N = {sc.design.n_per_arm} per arm "
                             f"({sc.n_trials:,} trials)", 0.25)
        _send(conn, "point", point_data(power(dm)))
        _send(conn, "stage", "power curve and the N for each target", 0.5)
        out = run_data(run(dm))
        out["seconds"] = time.perf_counter() - t0
        _send(conn, "run", out)
    _guarded(conn, body)


# ---------------------------------------------------------------------------------------------
# lessons
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Control:
    """A lesson control: the keyword of the lesson's compute function it sets, its label and
    its slider range."""

    param: str
    label: str
    lo: float
    hi: float
    value: float
    step: float

    def convert(self, v: Any) -> Any:
        return int(round(float(v))) if float(self.step).is_integer() else float(v)


LESSON_CONTROLS: dict[str, tuple[Control, ...]] = {
    "winners-curse": (Control("small_n", "Patients per arm of the small trial", 5, 80, 10, 1),),
    "fading-effects": (Control("follow_months", "Follow-up visit (months)", 6, 12, 12, 6),
                       Control("target", "Target power at 3 months", 0.5, 0.95, 0.8, 0.05)),
    "assurance-vs-power": (Control("n_max", "Largest N per arm on the curves", 40, 300, 150, 10),),
    "t1d-vs-t2d": (Control("target", "Target power", 0.5, 0.95, 0.8, 0.05),),
    "heterogeneity": (Control("i2", "Comparison I² (%)", 10, 90, 50, 5),),
}
"""The control(s) of each lesson: the parameters its compute function takes."""
assert set(LESSON_CONTROLS) == set(LESSONS), "every lesson needs its controls"


def lesson_kwargs(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of the lesson's compute function from the control values (the
    heterogeneity lesson compares the reported I² with 0% and the chosen value)."""
    out = {}
    for c in LESSON_CONTROLS[name]:
        v = c.convert(values.get(c.param, c.value))
        if not c.lo <= v <= c.hi:
            raise SimtrialError(f"lesson error: {c.label} = {v:g} must be in "
                                f"[{c.lo:g}, {c.hi:g}]")
        if name == "heterogeneity" and c.param == "i2":
            out["i2_values"] = (0.0, float(v))
        else:
            out[c.param] = v
    return out


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render_sections(sections) -> str:
    """An HTML fragment of report sections (:class:`simtrial.present.html.Section`): headings
    and paragraphs escaped, figures as PNG ``data:`` images with their captions, tables."""
    import matplotlib.pyplot as plt
    parts = []
    for s in sections:
        parts.append(f"<h4>{html.escape(s.heading)}</h4>")
        parts.extend(f"<p>{html.escape(p)}</p>" for p in s.paragraphs)
        for f in s.figures:
            parts.append(f'<figure><img class="lesson-figure" alt="{html.escape(f.name)}" '
                         f'src="data:image/png;base64,{_png(f.fig)}" style="max-width:100%">'
                         f"<figcaption>{html.escape(f.caption)}</figcaption></figure>")
            plt.close(f.fig)
        for t in s.tables:
            parts.append(t.to_html(index=False, na_rep="", classes="table table-sm"))
    return "\n".join(parts)


def lesson_job(name: str, values: dict, seed: int, n_trials: int, conn) -> None:
    """Worker: compute lesson ``name`` with the control values and render its text and
    figures."""
    def body():
        les = get_lesson(name)
        kw = lesson_kwargs(name, values)
        check_args(seed, n_trials)
        _send(conn, "stage", f"{les.title}: simulating ({n_trials:,} trials per point)", 0.1)
        res = les.compute(seed, n_trials, **kw)
        _send(conn, "stage", f"{les.title}: drawing the figures", 0.8)
        heads = res.headline() if hasattr(res, "headline") else []
        _send(conn, "lesson", {"name": name, "title": les.title, "headline": list(heads),
                               "html": render_sections(les.sections(res)), "seed": seed,
                               "n_trials": n_trials, "kwargs": kw})
    _guarded(conn, body)
