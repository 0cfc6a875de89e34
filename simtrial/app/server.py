"""The Shiny for Python application: Design (form and live results), Compare, Teach.

Why Shiny for Python: it is the idiom of the field's browser tools (rpact Cloud, gsDesign's and
TrialSimulator's Shiny apps), it is one ``pip install`` with no JavaScript build, it serves its
own assets (the page works offline), and its reactive graph maps onto "change a field, the
numbers follow". The computations are not Shiny's: each runs in a worker process
(:mod:`simtrial.app.jobs`) calling the same engine as the CLI (:mod:`simtrial.app.work`).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from shiny import App, reactive, render, ui

from ..errors import SimtrialError, one_line
from ..present.files import check_run_folder, commit_run
from ..present.lessons import LESSON_SEED, LESSONS, MIN_TRIALS, check_args
from ..present.report import write_report
from ..scenario import Scenario
from .figures import plot_compare, png_data_uri
from .form import (FIELDS, field_of_error, form_values, parse_upload, scenario_from_form,
                   toml_text)
from .jobs import Cache, Finished, Job
from .work import LESSON_CONTROLS, design_job, lesson_job

__all__ = ["build_app", "MAX_PINS"]

MAX_PINS = 4
"""Designs the Compare tab holds at once."""
POLL_S = 0.15
"""How often the page asks a running job for its progress (seconds)."""

_JS = """
function simtrialUpload() {
  const i = document.createElement('input');
  i.type = 'file'; i.accept = '.toml,text/plain';
  i.onchange = () => {
    const f = i.files[0];
    if (!f) return;
    const send = (t) => Shiny.setInputValue('upload',
        {name: f.name, text: t, size: f.size, nonce: Date.now()}, {priority: 'event'});
    if (f.size > 1048576) { send(null); return; }
    f.text().then(send);
  };
  i.click();
}
function simtrialUnpin(key) { Shiny.setInputValue('unpin', key, {priority: 'event'}); }
"""
_CSS = """
.field-error { color: #b00020; font-size: 0.85em; margin: -0.6em 0 0.6em 0; }
.power-big { font-size: 1.6em; font-weight: 600; }
#headline { font-size: 1.15em; background: #eef5ff; padding: 0.5em 0.8em; border-radius: 4px; }
.bslib-sidebar-layout .shiny-input-container { margin-bottom: 0.25em; }
.bslib-sidebar-layout .sidebar-content { gap: 0.3rem !important; }
.bslib-sidebar-layout label { font-size: 0.85em; margin-bottom: 0.1em; }
#compare-table td, #compare-table th { padding: 0.25em 0.6em; font-size: 0.9em; }
"""


def _input(f, value):
    if f.kind == "select":
        choices = list(f.choices)
        if value not in choices:
            choices.append(value)
        return ui.input_select(f.id, f.label, choices=choices, selected=value)
    if f.kind in ("int", "float"):
        return ui.input_numeric(f.id, f.label, value, min=f.lo, max=f.hi, step=f.step)
    return ui.input_text(f.id, f.label, value)


def _form(values: dict) -> list:
    out = []
    for f in FIELDS:
        block = [_input(f, values[f.id]), ui.output_ui(f"err_{f.id}")]
        if f.id == "md":
            block = [ui.panel_conditional("input.source === 'fixed'", *block)]
        elif f.id == "evidence_population":
            block = [ui.panel_conditional("input.source === 'evidence'", *block)]
        elif f.id == "spending":
            block = [ui.panel_conditional("input.looks > 1", *block)]
        out.extend(block)
    return out


def _page(sc: Scenario):
    values = form_values(sc.to_dict())
    lessons = {k: les.title for k, les in LESSONS.items()}
    design = ui.layout_sidebar(
        ui.sidebar(
            ui.tags.button("Open scenario TOML…", id="upload-btn", type="button",
                           class_="btn btn-outline-secondary btn-sm",
                           onclick="simtrialUpload()"),
            ui.output_ui("upload_note"),
            *_form(values), width=330),
        ui.output_ui("form_error"),
        ui.div(ui.input_action_button("cancel", "Cancel", class_="btn-outline-danger btn-sm"),
               ui.input_action_button("rerun", "Run again", class_="btn-outline-primary btn-sm"),
               ui.input_action_button("pin", "Pin for comparison", class_="btn-primary btn-sm"),
               class_="d-flex gap-2 mb-2"),
        ui.output_ui("pin_note"),
        ui.output_ui("status"),
        ui.output_ui("results"),
        ui.output_ui("downloads"),
    )
    compare = ui.div(
        ui.p(f"Pin up to {MAX_PINS} designs on the Design tab; they are listed here side by "
             "side. Every simulated probability is shown with its Monte Carlo SE."),
        ui.input_action_button("clear_pins", "Clear all", class_="btn-outline-secondary btn-sm"),
        ui.output_ui("compare_table"),
        ui.output_ui("compare_plot"))
    teach = ui.layout_sidebar(
        ui.sidebar(
            ui.input_select("lesson", "Lesson", choices=lessons, selected="winners-curse"),
            ui.output_ui("lesson_controls"),
            ui.input_numeric("lesson_n_trials", "Replicate trials per point", 1000,
                             min=MIN_TRIALS, step=500),
            ui.input_numeric("lesson_seed", "Seed", LESSON_SEED, min=0, step=1),
            ui.output_ui("lesson_error"),
            ui.input_action_button("lesson_cancel", "Cancel", class_="btn-outline-danger btn-sm"),
            width=330),
        ui.output_ui("lesson_status"),
        ui.output_ui("lesson_out"))
    return ui.page_navbar(
        ui.nav_panel("Design", design, value="design"),
        ui.nav_panel("Compare", compare, value="compare"),
        ui.nav_panel("Teach", teach, value="teach"),
        id="tabs", title="simtrial", window_title=f"simtrial: {sc.name}",
        header=ui.tags.head(ui.tags.script(_JS), ui.tags.style(_CSS)))


# ---------------------------------------------------------------------------------------------
# formatting (numbers come from the engine; nothing is computed here)
# ---------------------------------------------------------------------------------------------

def _data_attrs(**kw) -> dict[str, str]:
    """``data-*`` attributes carrying exact values (``repr`` of floats) for tests and tools."""
    return {f"data-{k.replace('_', '-')}": ("" if v is None else repr(v)) for k, v in kw.items()}


def _status(s: dict | None, prefix: str = ""):
    if s is None:
        return ui.div("waiting for a valid design", id=f"{prefix}status-text")
    if s["error"]:
        return ui.div(s["error"], class_="alert alert-danger py-1", id=f"{prefix}status-text",
                      **{"data-state": "error"})
    if s["cancelled"]:
        return ui.div("cancelled (press Run again to restart)", class_="alert alert-warning py-1",
                      id=f"{prefix}status-text", **{"data-state": "cancelled"})
    if s["done"]:
        how = ("from the cache (same scenario hash, seed and trials)" if s.get("cached")
               else f"done in {s['seconds'] or 0:.1f} s")
        return ui.div(how, class_="text-success", id=f"{prefix}status-text",
                      **{"data-state": "cached" if s.get("cached") else "done"})
    return ui.div(
        ui.tags.progress(value=f"{s['fraction']:.2f}", max="1", style="width: 12em"),
        ui.span(f" {s['stage']} …", id=f"{prefix}stage"),
        id=f"{prefix}status-text", **{"data-state": "running"})


def _power_block(pt: dict, key: str):
    d = pt["dict"]
    rows = [ui.div(ui.span("power "), ui.span(f"{d['power']:.4f}", id="power-value"),
                   ui.tags.small(f" (MC SE {d['mc_se']:.4f}; 95% CI {d['ci_low']:.3f} to "
                                 f"{d['ci_high']:.3f}; {d['n_trials']:,} trials, seed "
                                 f"{d['seed']})"), class_="power-big")]
    cf = d.get("analytic_power")
    rows.append(ui.div("closed form " + ("not available for this design" if cf is None
                                         else f"{cf:.4f}"), id="closed-form"))
    if d.get("assurance") is not None:
        ca = d.get("analytic_assurance")
        rows.append(ui.div(f"assurance {d['assurance']:.4f} (MC SE {d['assurance_mc_se']:.4f})"
                           + ("" if ca is None else f"; closed form {ca:.4f}"), id="assurance"))
    arms = " + ".join(str(a) for a in d["arm_sizes"])
    rows.append(ui.div(f"N = {d['n_per_arm']} per arm ({arms} patients); true effect "
                       f"{d['true_effect']:+.4g}; kernel {d['kernel']}", class_="text-muted"))
    return ui.div(*rows, id="power-block",
                  **_data_attrs(key=key, n=d["n_per_arm"], power=d["power"], mc_se=d["mc_se"],
                                analytic=cf, assurance=d.get("assurance"),
                                assurance_mc_se=d.get("assurance_mc_se"), seed=d["seed"],
                                n_trials=d["n_trials"]))


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _effect_text(sc: dict) -> str:
    e = sc["effect"]
    src = (f"MD {e['md']:+g}" if e.get("source") == "fixed"
           else f"evidence {e.get('row') or e.get('population', 'all')}")
    dist = e.get("distribution", "point")
    return src + ("" if dist == "point" else f", {dist}")


def _pin_of(s: dict) -> dict:
    """A pinned design: the numbers the Compare tab shows."""
    sc = s["meta"]["scenario"]
    d = s["results"]["point"]["dict"]
    run = s["results"]["run"]
    seq = sc.get("sequential")
    return {"key": s["key"], "scenario": sc, "n": d["n_per_arm"], "arm_sizes": d["arm_sizes"],
            "power": d["power"], "mc_se": d["mc_se"], "analytic": d.get("analytic_power"),
            "assurance": d.get("assurance"), "assurance_mc_se": d.get("assurance_mc_se"),
            "true_effect": d["true_effect"], "n_trials": d["n_trials"], "seed": d["seed"],
            "sample_sizes": run["sample_sizes"], "curve": run["curve"],
            "headline": s["results"]["point"]["headline"],
            "label": (f"{sc['name']}: {sc['population']['preset']}, "
                      f"{sc['endpoint'].get('outcome', 'responder')} "
                      f"{sc['endpoint'].get('visit_months')}m, {_effect_text(sc)}, "
                      f"N {d['n_per_arm']}"),
            "design": (f"{sc['endpoint'].get('analysis', '')}; dropout "
                       f"{(sc.get('dropout') or {}).get('rate', 0):g}; multiplicity "
                       f"{(sc.get('multiplicity') or {}).get('method', 'none')}; looks "
                       f"{1 if seq is None else len(seq.get('fractions', [1]))}")}


def _compare_table(pins: list[dict]):
    if not pins:
        return ui.p("No design pinned yet.", id="compare-empty")
    targets = []
    for p in pins:
        for s in p["sample_sizes"]:
            t = (s["target"], s["target_power"])
            if t not in targets:
                targets.append(t)
    head = (["", "design", "analysis", "N per arm (arms)", "power (MC SE)", "closed form",
             "assurance (MC SE)"] + [f"N for {tp:.0%} {t}" for t, tp in targets]
            + ["trials, seed"])
    body = []
    for i, p in enumerate(pins):
        ss = {(s["target"], s["target_power"]): s for s in p["sample_sizes"]}
        cells = [f"#{i + 1}", p["label"], p["design"],
                 f"{p['n']} ({' + '.join(str(a) for a in p['arm_sizes'])})",
                 f"{p['power']:.4f} ({p['mc_se']:.4f})",
                 "" if p["analytic"] is None else f"{p['analytic']:.4f}",
                 "" if p["assurance"] is None
                 else f"{p['assurance']:.4f} ({p['assurance_mc_se']:.4f})"]
        for t in targets:
            s = ss.get(t)
            cells.append("" if s is None else (f"{s['n_per_arm']} ({s['power']:.3f}, MC SE "
                                                f"{s['mc_se']:.3f})" if s["reached"]
                                                else f"> {s['searched_max']}"))
        cells.append(f"{p['n_trials']:,}, {p['seed']}")
        tds = "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
        rm = (f'<td><button type="button" class="btn btn-link btn-sm p-0" '
              f'onclick="simtrialUnpin(\'{p["key"]}\')">remove</button></td>')
        body.append(f'<tr data-key="{p["key"]}" data-power="{p["power"]!r}" '
                    f'data-n="{p["n"]}">{tds}{rm}</tr>')
    ths = "".join(f"<th>{html.escape(h)}</th>" for h in head) + "<th></th>"
    return ui.HTML(f'<table id="compare-table" class="table table-striped"><thead><tr>{ths}'
                   f'</tr></thead><tbody>{"".join(body)}</tbody></table>')


# ---------------------------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------------------------

def build_app(sc: Scenario, out_dir: Path, *, cache: Cache | None = None) -> App:
    """The Shiny app opening on scenario ``sc``; reports are written under ``out_dir``
    (``out_dir/<name>/``, as ``simtrial run --report`` writes them)."""
    cache = Cache() if cache is None else cache
    base_data = sc.to_dict()

    def server(input, output, session):
        base = reactive.value(base_data)
        upload_msg = reactive.value(("", ""))
        current = reactive.value(None)
        snap = reactive.value(None)
        pins = reactive.value(())
        pin_msg = reactive.value("")
        les_current = reactive.value(None)
        les_snap = reactive.value(None)
        reruns = {"design": 0}

        @reactive.calc
        def checked() -> tuple[Scenario | None, str | None]:
            values = {f.id: input[f.id]() for f in FIELDS}
            try:
                return scenario_from_form(base(), values), None
            except SimtrialError as exc:
                return None, one_line(str(exc))
            except Exception as exc:  # an internal bug: still one line, never a traceback
                return None, one_line(f"internal error: {type(exc).__name__}: {exc}")

        # -- the design job -----------------------------------------------------------------
        @reactive.effect
        def _start():
            sc_, _ = checked()
            n_rerun = input.rerun()
            if sc_ is None:
                return
            key = "design:" + sc_.hash()
            with reactive.isolate():
                old = current.get()
            if old is not None and old.key == key:
                again = n_rerun != reruns["design"]
                st = old.snapshot()
                if not (again and (st["cancelled"] or st["error"])):
                    reruns["design"] = n_rerun
                    return
            reruns["design"] = n_rerun
            if old is not None:
                old.cancel()
            hit = cache.get(key)
            data = sc_.to_dict()
            current.set(Finished(hit) if hit is not None else
                        Job(design_job, (data,), key, meta={"scenario": data}))

        def poll(cur, out):
            j = cur()
            if j is None:
                return
            s = j.snapshot()
            if not s["finished"]:
                reactive.invalidate_later(POLL_S)
            else:
                cache.put(s)
            with reactive.isolate():
                old = out.get()
            if (old is None or old["key"] != s["key"] or old["version"] != s["version"]
                    or old["cached"] != s["cached"] or old["finished"] != s["finished"]):
                out.set(s)

        @reactive.effect
        def _poll():
            poll(current, snap)

        @reactive.effect
        @reactive.event(input.cancel)
        def _cancel():
            j = current.get()
            if j is not None:
                j.cancel()

        # -- the form ---------------------------------------------------------------------
        def field_error(fid: str):
            def fn():
                _, err = checked()
                if err is not None and field_of_error(err) == fid:
                    return ui.div(err, class_="field-error", id=f"fe-{fid}")
                return None
            fn.__name__ = f"err_{fid}"
            return render.ui(fn)

        for f in FIELDS:
            field_error(f.id)

        @render.ui
        def form_error():
            _, err = checked()
            if err is None:
                return None
            return ui.div(ui.tags.b("Not a valid design: "), ui.span(err, id="form-error-text"),
                          " (the results below are those of the last valid design)",
                          class_="alert alert-danger py-1", id="form-error")

        @reactive.effect
        @reactive.event(input.upload)
        def _upload():
            u = input.upload() or {}
            name = str(u.get("name", "upload.toml"))
            try:
                new = parse_upload(u.get("text"), name, u.get("size"))
            except SimtrialError as exc:
                upload_msg.set(("error", f"upload refused: {one_line(str(exc))}"))
                return
            data = new.to_dict()
            base.set(data)
            for f, v in form_values(data).items():
                fld = next(x for x in FIELDS if x.id == f)
                if fld.kind == "select":
                    ui.update_select(f, choices=list(dict.fromkeys([*fld.choices, v])),
                                     selected=v)
                elif fld.kind == "text":
                    ui.update_text(f, value=v)
                else:
                    ui.update_numeric(f, value=v)
            upload_msg.set(("ok", f"opened {html.escape(Path(name).name)}: scenario "
                                   f"{new.name}"))

        @render.ui
        def upload_note():
            kind, msg = upload_msg()
            if not msg:
                return None
            return ui.div(msg, id="upload-msg",
                          class_="field-error" if kind == "error" else "text-success small")

        # -- results ------------------------------------------------------------------------
        @render.ui
        def status():
            return _status(snap())

        @render.ui
        def results():
            s = snap()
            if s is None:
                return None
            pt = s["results"].get("point")
            rn = s["results"].get("run")
            out = []
            if pt is not None:
                out += [_power_block(pt, s["key"]),
                        ui.p(pt["headline"], id="headline")]
            if rn is not None:
                out.append(ui.tags.ul(*[ui.tags.li(x["line"]) for x in rn["sample_sizes"]],
                                      id="sample-sizes"))
                out.append(ui.img(src=_png_uri(rn["files"]["power_curve.png"]),
                                  id="power-curve", style="max-width: 100%",
                                  alt="power curve with 95% Monte Carlo bands"))
            return ui.div(*out, id="results-block", **_data_attrs(key=s["key"]))

        @render.ui
        def downloads():
            s = snap()
            if s is None or not s["done"]:
                return None
            return ui.div(ui.download_button("dl_toml", "Scenario TOML"),
                          ui.download_button("dl_csv", "Results CSV"),
                          ui.download_button("dl_report", "Report (HTML)"),
                          class_="d-flex gap-2 mt-2", id="download-bar")

        def shown() -> tuple[dict, dict]:
            s = snap.get()
            if s is None or not s["done"]:
                raise SimtrialError("usage error: no finished result to download yet")
            return s, s["meta"]["scenario"]

        @render.download(filename=lambda: f"{shown()[1]['name']}.toml",
                         media_type="application/toml")
        def dl_toml():
            _, data = shown()
            yield toml_text(scenario_from_form(data, {}))

        @render.download(filename=lambda: f"{shown()[1]['name']}_results.csv",
                         media_type="text/csv")
        def dl_csv():
            s, _ = shown()
            yield s["results"]["run"]["files"]["results.csv"]

        @render.download(filename=lambda: f"{shown()[1]['name']}_report.html",
                         media_type="text/html")
        def dl_report():
            s, data = shown()
            folder = out_dir / data["name"]
            check_run_folder(folder)
            commit_run(folder, s["results"]["run"]["files"])
            yield write_report(folder).read_bytes()

        # -- compare ------------------------------------------------------------------------
        @reactive.effect
        @reactive.event(input.pin)
        def _pin():
            s = snap.get()
            if s is None or not s["done"] or "run" not in s["results"]:
                pin_msg.set("nothing to pin yet: wait until the run is done")
                return
            have = list(pins.get())
            if any(p["key"] == s["key"] for p in have):
                pin_msg.set("this design is already pinned")
                return
            if len(have) >= MAX_PINS:
                pin_msg.set(f"Compare holds at most {MAX_PINS} designs: remove one first")
                return
            pins.set(tuple(have) + (_pin_of(s),))
            pin_msg.set(f"pinned as #{len(have) + 1} ({len(have) + 1} of {MAX_PINS})")

        @reactive.effect
        @reactive.event(input.unpin)
        def _unpin():
            key = input.unpin()
            pins.set(tuple(p for p in pins.get() if p["key"] != key))

        @reactive.effect
        @reactive.event(input.clear_pins)
        def _clear():
            pins.set(())

        @render.ui
        def pin_note():
            msg = pin_msg()
            return ui.div(msg, id="pin-msg", class_="small text-muted") if msg else None

        @render.ui
        def compare_table():
            return _compare_table(list(pins()))

        @render.ui
        def compare_plot():
            ps = list(pins())
            if not ps:
                return None
            return ui.img(src=png_data_uri(plot_compare(ps)), id="compare-plot",
                          style="max-width: 100%", **{"data-count": str(len(ps))})

        # -- teach --------------------------------------------------------------------------
        @render.ui
        def lesson_controls():
            name = input.lesson()
            les = LESSONS[name]
            return ui.div(ui.p(les.summary, class_="small text-muted"),
                          *[ui.input_slider(f"lc_{c.param}", c.label, c.lo, c.hi, c.value,
                                            step=c.step) for c in LESSON_CONTROLS[name]],
                          id="lesson-controls")

        @reactive.calc
        def lesson_request():
            name = input.lesson()
            values = {c.param: input[f"lc_{c.param}"]() for c in LESSON_CONTROLS[name]}
            n_trials, seed = input.lesson_n_trials(), input.lesson_seed()
            return name, values, seed, n_trials

        @reactive.effect
        def _lesson_start():
            if input.tabs() != "teach":
                return
            name, values, seed, n_trials = lesson_request()
            if _lesson_args(seed, n_trials):
                return
            seed, n_trials = int(seed), int(n_trials)
            key = f"lesson:{name}:{json.dumps(values, sort_keys=True)}:{seed}:{n_trials}"
            with reactive.isolate():
                old = les_current.get()
            if old is not None and old.key == key:
                return
            if old is not None:
                old.cancel()
            hit = cache.get(key)
            les_current.set(Finished(hit) if hit is not None else
                            Job(lesson_job, (name, values, seed, n_trials), key,
                                kind="lesson", meta={}))

        @reactive.effect
        @reactive.event(input.lesson_cancel)
        def _lesson_cancel():
            j = les_current.get()
            if j is not None:
                j.cancel()

        @reactive.effect
        def _lesson_poll():
            poll(les_current, les_snap)

        @render.ui
        def lesson_error():
            _, _, seed, n_trials = lesson_request()
            bad = _lesson_args(seed, n_trials)
            return ui.div(bad, class_="field-error", id="lesson-error") if bad else None

        @render.ui
        def lesson_status():
            return _status(les_snap(), "lesson-")

        @render.ui
        def lesson_out():
            s = les_snap()
            if s is None or "lesson" not in s["results"]:
                return None
            r = s["results"]["lesson"]
            return ui.div(ui.h3(r["title"]),
                          ui.tags.ul(*[ui.tags.li(x) for x in r["headline"]],
                                     id="lesson-headline"),
                          ui.HTML(r["html"]), id="lesson-out", **_data_attrs(key=s["key"]))

    return App(_page(sc), server)


def _lesson_args(seed: Any, n_trials: Any) -> str | None:
    """The one line ``simtrial lesson`` gives for a seed or trial count it refuses, else None
    (integral numbers from the form count as integers)."""
    def whole(v):
        return int(v) if isinstance(v, float) and v.is_integer() else v
    try:
        check_args(whole(seed), whole(n_trials))
    except SimtrialError as exc:
        return one_line(str(exc))
    return None
