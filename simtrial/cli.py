"""Command line: ``simtrial run | batch | compare | report | power | sample-size | mde | validate
| evidence | meta | lesson | simulate | safety | schema | app``.

Bad input never produces a traceback: any :class:`~simtrial.errors.SimtrialError` (and any
argument error) is printed as one line on stderr with exit code 2, before any output file is
written. Set ``SIMTRIAL_DEBUG=1`` to see tracebacks of unexpected internal errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ._progress import enable as enable_progress
from ._procs import sigint_handled, sigint_pending, sigint_redelivered
from .errors import SimtrialError, one_line

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # noqa: D401
        raise SimtrialError(f"usage error: {self.prog}: {message} (see '{self.prog} --help')")


def _positive_int(name: str, lo: int = 1):
    def conv(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} = {text!r} must be an integer >= {lo}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"{name} = {v} must be >= {lo}")
        return v
    return conv


def _probability(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--target-power = {text!r} must be a number in (0, 1)") from None
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"--target-power = {v:g} must be in (0, 1) (e.g. 0.8)")
    return v


def _probabilities(text: str) -> list[float]:
    """``--target-power P[,P2,...]``: one or more probabilities (each checked as one)."""
    items = text.split(",")
    if len(items) > 1 and any(not x.strip() for x in items):
        raise argparse.ArgumentTypeError(f"--target-power = {text!r} must be comma-separated "
                                         "numbers in (0, 1) (e.g. 0.8,0.9)")
    values = [_probability(x.strip()) for x in items]
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"--target-power = {text!r} repeats a value")
    return values


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed = {text!r} must be an integer >= 0") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"--seed = {v} must be >= 0")
    return v


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="simtrial", description="Clinical-trial simulator for MSC therapy in diabetes.")
    from . import __version__
    p.add_argument("--version", action="version", version=f"simtrial {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def common(sp, json_flag: bool = True, kernel_flag: bool = True):
        sp.add_argument("scenario", metavar="SCENARIO.toml")
        sp.add_argument("--seed", type=_seed, help="override the scenario seed")
        sp.add_argument("--n-trials", type=_positive_int("--n-trials"), dest="n_trials",
                        help="override the number of replicate trials")
        sp.add_argument("--workers", type=_positive_int("--workers"), default=1,
                        help="processes (results do not depend on it)")
        if kernel_flag:
            sp.add_argument("--kernel", choices=("auto", "suffstat", "prefix", "full"),
                            default="auto",
                            help="simulation kernel (default auto: the fastest exact one for the "
                                 "design; prefix gives the estimates of the patients `simtrial "
                                 "simulate` exports)")
        if json_flag:
            sp.add_argument("--json", action="store_true", help="print JSON")

    r = sub.add_parser("run", help="power, power curve, sample sizes, output files")
    common(r, json_flag=False)
    r.add_argument("--out", metavar="DIR", help="output root (default: outputs); files go to DIR/<name>/")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--report", action="store_true",
                   help="also write a self-contained report.html (and figures/) into the run folder")

    cp = sub.add_parser("compare", help="two or more designs side by side: one table, one "
                                         "overlay plot",
                        description="Run each scenario as `simtrial run` does (same seed, same "
                                    "numbers) and write DIR/compare.csv (one row per scenario x "
                                    "N x quantity), DIR/compare.png and .svg (power / assurance "
                                    "against N per arm, and against total duration when a "
                                    "scenario has [conduct]) and DIR/manifest.json.")
    cp.add_argument("scenarios", nargs="+", metavar="SCENARIO.toml",
                    help="two or more scenario files (each with its own name)")
    cp.add_argument("--out", metavar="DIR", default=None,
                    help="compare folder (default: outputs/compare)")
    cp.add_argument("--seed", type=_seed, help="override every scenario's seed")
    cp.add_argument("--n-trials", type=_positive_int("--n-trials"), dest="n_trials",
                    help="override every scenario's number of replicate trials")
    cp.add_argument("--workers", type=_positive_int("--workers"), default=1,
                    help="processes (results do not depend on it)")
    cp.add_argument("--quiet", action="store_true", help="no progress bar")

    rp = sub.add_parser("report", help="self-contained HTML report of a run folder",
                        description="Write OUTPUT_DIR/report.html (figures embedded, opens offline) "
                                    "and OUTPUT_DIR/figures/*.png|svg from the results.csv and "
                                    "manifest.json that `simtrial run` wrote there.")
    rp.add_argument("output_dir", metavar="OUTPUT_DIR", help="a folder written by `simtrial run`")

    bt = sub.add_parser("batch", help="run many scenarios and sweeps; one tidy table",
                        description="Run every design point of the scenario/sweep files (folders: "
                                    "every *.toml inside) and write OUT/batch_results.csv. Exit "
                                    "code 3 if some design points failed (the others are "
                                    "written), 2 for bad input.")
    bt.add_argument("paths", nargs="+", metavar="PATH", help="scenario or sweep files, or folders")
    bt.add_argument("--out", metavar="DIR", default="outputs/batch",
                    help="batch folder (default: outputs/batch)")
    bt.add_argument("--workers", type=_positive_int("--workers"), default=None, metavar="N",
                    help="local processes (default 1; results do not depend on it)")
    bt.add_argument("--scheduler", metavar="ADDRESS",
                    help="run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786")
    bt.add_argument("--resume", action="store_true",
                    help="keep finished design points whose manifest matches; redo the rest")
    bt.add_argument("--n-trials", type=_positive_int("--n-trials"), dest="n_trials",
                    metavar="N", help="override every scenario's number of replicate trials")
    bt.add_argument("--seed", type=_seed, metavar="S", help="override every scenario's seed")
    bt.add_argument("--quiet", action="store_true", help="no progress bar, no per-point lines")
    bt.add_argument("--progress", action="store_true",
                    help="show the progress bar even when stderr is not a terminal")

    pw = sub.add_parser("power", help="simulated power at one N per arm")
    common(pw)
    pw.add_argument("--n-per-arm", type=_positive_int("--n-per-arm", 2), dest="n_per_arm",
                    help="control-arm size (default: design.n_per_arm)")

    ss = sub.add_parser("sample-size", help="smallest N per arm reaching a target power")
    common(ss)
    ss.add_argument("--target-power", type=_probabilities, dest="target_power", required=True,
                    metavar="P[,P2,...]",
                    help="the power (or assurance, with --target assurance) to reach; several "
                         "comma-separated targets give one answer each (--json: a list)")
    ss.add_argument("--target", choices=("power", "assurance"), default=None,
                    help="reach power at the point estimate or assurance (default design.target)")

    md = sub.add_parser("mde", help="minimum detectable effect at one N per arm and power",
                        description="The smallest true effect (natural units of the primary "
                                    "endpoint, direction of benefit) whose simulated power at "
                                    "--n-per-arm reaches each --target-power: a root search over "
                                    "a fixed effect with the same seed (common random numbers), "
                                    "with its delta-method MC SE and the closed form beside it.")
    common(md)
    md.add_argument("--n-per-arm", type=_positive_int("--n-per-arm", 2), dest="n_per_arm",
                    help="control-arm size (default: design.n_per_arm)")
    md.add_argument("--target-power", type=_probabilities, dest="target_power", required=True,
                    metavar="P[,P2,...]",
                    help="the power to reach; several comma-separated targets give one answer "
                         "each (--json: a list)")

    v = sub.add_parser("validate", help="check a scenario and print its resolved model")
    v.add_argument("scenario", metavar="SCENARIO.toml")
    v.add_argument("--json", action="store_true")

    e = sub.add_parser("evidence", help="print the evidence table")
    e.add_argument("--json", action="store_true")

    ls = sub.add_parser("lesson", help="teaching demonstrations: list them, run one, or all",
                        description="Without NAME, list the lessons. With NAME (or all), run it on "
                                    "the simulation engine and write DIR/NAME/report.html, "
                                    "figures/ and lesson.json (the numbers behind the text).")
    ls.add_argument("name", nargs="?", metavar="NAME", help="a lesson name, or all")
    ls.add_argument("--out", metavar="DIR",
                    help="output root (default: outputs/lessons); files go to DIR/NAME/")
    ls.add_argument("--seed", type=_seed, help="seed (default: the lessons' fixed seed)")
    ls.add_argument("--n-trials", type=_positive_int("--n-trials"), dest="n_trials",
                    help="replicate trials per design point (default: the lesson's)")

    def _meta_level(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--level = {text!r} must be a number in (0, 1)") from None
        if not 0.0 < v < 1.0:
            raise argparse.ArgumentTypeError(f"--level = {v:g} must be in (0, 1) (e.g. 0.95)")
        return v

    mt = sub.add_parser("meta", help="pool per-study mean differences (meta-analysis); optionally "
                                     "write an evidence row")
    mt.add_argument("file", metavar="FILE.csv",
                    help="studies: columns yi,vi | md,se | md,ci_low,ci_high | "
                         "mean1,sd1,n1,mean2,sd2,n2 (group 1 = MSC)")
    mt.add_argument("--method", choices=("fe", "dl", "reml", "pm"), default="reml",
                    help="fixed effect or tau^2 estimator (default: reml)")
    mt.add_argument("--hksj", action="store_true",
                    help="Hartung-Knapp/Sidik-Jonkman SE with a t(k-1) test")
    mt.add_argument("--level", type=_meta_level, default=0.95, help="confidence level (default 0.95)")
    mt.add_argument("--pi-dist", choices=("t", "z", "ci"), default="t", dest="pi_dist",
                    help="prediction interval critical value: t with k-2 df (default; metafor's "
                         "pi.type='riley'); z: the normal quantile, also with --hksj; ci: the "
                         "CI's critical value (z, or t with k-1 df with --hksj) as metafor's "
                         "predict() prints")
    mt.add_argument("--json", action="store_true", help="print JSON")
    mt.add_argument("--write-row", metavar="OUT.csv", dest="write_row",
                    help="write a one-row CSV in the evidence-table format")
    mt.add_argument("--id", dest="row_id", metavar="ID", help="row id for --write-row (snake_case)")
    mt.add_argument("--outcome", metavar="O", help="outcome for --write-row (e.g. hba1c)")
    mt.add_argument("--time-months", dest="time_months", metavar="T",
                    help="3, 6, 12 or none, for --write-row")
    mt.add_argument("--population", metavar="P", help="all, T1DM or T2DM, for --write-row")
    mt.add_argument("--source", metavar="TEXT", help="citation of the pooled data, for --write-row")
    mt.add_argument("--note", metavar="TEXT", help="extra note for --write-row")

    bd = sub.add_parser("boundaries", help="group-sequential efficacy bounds from an "
                                           "alpha-spending function (Lan-DeMets)")
    bd.add_argument("--looks", type=_positive_int("--looks"), metavar="K",
                    help="number of looks including the final analysis (default: the number of "
                         "--fractions)")
    bd.add_argument("--fractions", metavar="T1,...,1",
                    help="information fractions, increasing and ending at 1 (default k/K)")
    bd.add_argument("--spending", choices=("obf", "pocock", "hsd"), default="obf",
                    help="O'Brien-Fleming type, Pocock type or Hwang-Shih-DeCani (default obf)")
    bd.add_argument("--gamma", metavar="G", help="Hwang-Shih-DeCani gamma (required for hsd)")
    bd.add_argument("--alpha", default="0.025", metavar="A",
                    help="one-sided level, or total two-sided level with --sides 2 (default 0.025)")
    bd.add_argument("--sides", type=int, choices=(1, 2), default=1, help="1 or 2 (default 1)")
    bd.add_argument("--futility", metavar="Z1,...",
                    help="futility bounds (z scale) at the interim looks; stop if z <= bound")
    bd.add_argument("--binding", action="store_true",
                    help="efficacy bounds account for the futility stops (binding futility)")
    bd.add_argument("--json", action="store_true", help="print JSON")
    sm = sub.add_parser("simulate", help="the simulated patients of replicate trials as one "
                                         "table (CSV or Parquet)",
                        description="Write the patients of replicate trials 0..R-1 (the ones the "
                                    "engine analyses: same seed, same streams) as a long table, "
                                    "one row per trial, patient and month: trial, patient, "
                                    "stratum, arm, month, each simulated outcome (NaN where not "
                                    "observed), observed, responder, effect_multiplier, "
                                    "insulin_free. At most 5,000,000 rows.")
    sm.add_argument("scenario", metavar="SCENARIO.toml")
    sm.add_argument("--n-trials", type=_positive_int("--n-trials"), dest="n_trials", default=1,
                    metavar="R", help="replicate trials to write (default 1: trial 0)")
    sm.add_argument("--n", "--n-per-arm", type=_positive_int("--n"), dest="n", metavar="N",
                    help="control-arm size (default: design.n_per_arm)")
    sm.add_argument("--seed", type=_seed, help="override the scenario seed")
    sm.add_argument("--out", metavar="FILE",
                    help="FILE.csv or FILE.parquet (default: outputs/<name>/patients.csv)")
    sf = sub.add_parser("safety", help="closed-form safety answers: chance of >= 1 event, "
                                       "patients to rule a rate out, what 0/N rules out",
                        description="Closed forms, nothing simulated, nothing written: P(>= 1 "
                                    "event) in N patients at the rate, the patients needed so "
                                    "that K events (default 0) rule the rate out with the "
                                    "confidence (one-sided), and the upper bound after K/N "
                                    "(Clopper-Pearson; Garwood with --years) beside the rule of "
                                    "three.")
    sf.add_argument("--n-treated", dest="n_treated", required=True, metavar="N",
                    help="patients treated")
    sf.add_argument("--rate", required=True, metavar="P",
                    help="event probability per patient over the follow-up, or per patient-year "
                         "with --years")
    sf.add_argument("--years", metavar="Y", help="follow-up per patient in years: --rate is "
                                                 "then per patient-year")
    sf.add_argument("--confidence", default="0.95", metavar="C",
                    help="one-sided confidence (default 0.95)")
    sf.add_argument("--events", default="0", metavar="K",
                    help="events observed / allowed (default 0)")
    sf.add_argument("--json", action="store_true", help="print JSON")
    ap = sub.add_parser("app", help="local web workbench: design form, live power, compare, "
                        "lessons, downloads (Shiny)",
                        description="Serve the simtrial workbench on http://HOST:PORT/ until "
                                    "Ctrl-C. Reads no file outside the current folder; "
                                    "reports go to OUT/<name>/.")
    ap.add_argument("scenario", nargs="?", metavar="SCENARIO.toml",
                    help="scenario to open on (default scenarios/t1d_hba1c_12m.toml, else the "
                         "package's copy)")
    ap.add_argument("--port", type=_positive_int("--port", 1), default=8765,
                    help="port (default 8765)")
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this machine only)")
    ap.add_argument("--out", metavar="DIR", default="outputs/app",
                    help="folder for downloaded reports (default outputs/app)")

    sc_ = sub.add_parser("schema", help="JSON Schema of a scenario file (completion in TOML "
                                        "editors: Taplo, Even Better TOML)")
    sc_.add_argument("--out", metavar="FILE", help="write it to FILE instead of stdout")
    # let values such as "--futility -1,0" or "--gamma -4" through (argparse would take "-1,0"
    # for an option); every option of this subcommand starts with "--"
    import re
    bd._negative_number_matcher = re.compile(r"^-(\d|\.\d|inf)")
    return p


def _load_scenario(path: str):
    """load_scenario, pointing sweep files to `simtrial batch`."""
    from .errors import ScenarioError
    from .scenario import load_scenario
    try:
        return load_scenario(path)
    except ScenarioError:
        from .scenario import read_toml
        from .sweep import count_points
        try:     # counted, not expanded: a 10,000-point sweep answers at once
            n = count_points(read_toml(path))
        except SimtrialError:
            n = 0
        if n:
            raise ScenarioError(f"scenario error: {path} is a sweep of {n:,} design "
                                f"point{'s' * (n != 1)}; run it with: simtrial batch "
                                f"{path}") from None
        raise


def _load(args):
    """The scenario of ``args.scenario`` with the --seed / --n-trials overrides."""
    sc = _load_scenario(args.scenario)
    changes = {}
    if getattr(args, "seed", None) is not None:
        changes["seed"] = args.seed
    if getattr(args, "n_trials", None) is not None:
        changes["n_trials"] = args.n_trials
    return sc.replace(**changes) if changes else sc


def _print_json(obj) -> None:
    from .io.outputs import to_jsonable
    print(json.dumps(to_jsonable(obj), indent=2))


def _check_out_dir(root: Path, out_dir: Path) -> None:
    """Refuse, before simulating, an output folder that cannot be created or written."""
    if root.exists() and not root.is_dir():
        raise SimtrialError(f"usage error: --out = {str(root)!r} exists and is not a folder")
    _check_writable(str(root), out_dir)


def _check_writable(shown: str, out_dir: Path) -> None:
    """Refuse a folder that cannot be created or written (``shown``: the --out value)."""
    p = out_dir
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        why = "" if p == out_dir else f", so {str(out_dir)!r} cannot be created"
        raise SimtrialError(f"usage error: --out = {shown!r}: {str(p)!r} exists and is not a "
                            f"folder{why}")
    if not os.access(p, os.W_OK | os.X_OK):
        raise SimtrialError(f"usage error: --out = {shown!r}: folder {str(p)!r} is not writable")


def _design(sc):
    """Resolve the design and print its model warnings on stderr (one line each)."""
    from .model.design import build_design
    dm = build_design(sc)
    for w in dm.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return dm


def _cmd_run(args) -> int:
    from ._procs import EXIT_TERMINATED, Terminated, sigterm_raises
    try:
        with sigterm_raises():      # unwinds like Ctrl-C: workers stopped, staging removed
            from .oc.run import run
            from .present.files import check_run_folder, write_run
            sc = _load(args)
            root = Path(args.out) if args.out else Path("outputs")
            _check_out_dir(root, root / sc.name)
            check_run_folder(root / sc.name)
            dm = _design(sc)
            show = not args.quiet and sys.stderr.isatty()
            res = run(dm, workers=args.workers, progress=show, kernel=args.kernel)
            paths = write_run(res, root / sc.name, command=["simtrial"] + args.argv)
            print(res.summary())
            print("wrote     " + ", ".join(str(p) for p in paths.values()))
            if args.report:
                from .present.report import write_report
                from .sim.driver import pool_session
                with pool_session():        # one progress bar for the report's simulations
                    path = write_report(root / sc.name, prebuilt=dm)
                print(f"report    {path}")
    except Terminated:
        print("terminated", file=sys.stderr)
        return EXIT_TERMINATED
    return 0


def _cmd_compare(args) -> int:
    from ._procs import EXIT_TERMINATED, Terminated, sigterm_raises
    from .oc.compare import check_scenarios
    try:
        with sigterm_raises():      # unwinds like Ctrl-C: workers stopped, staging removed
            from .oc.run import compare
            from .present.compare import check_compare_folder, write_compare
            if len(args.scenarios) < 2:
                check_scenarios(args.scenarios)
            scs = []
            for path in args.scenarios:
                args.scenario = path
                scs.append(_load(args))
            check_scenarios(scs)
            out = Path(args.out) if args.out else Path("outputs") / "compare"
            _check_out_dir(out, out)
            check_compare_folder(out)
            dms = [_design(sc) for sc in scs]
            show = not args.quiet and sys.stderr.isatty()
            res = compare(dms, workers=args.workers, progress=show)
            paths = write_compare(res, out, command=["simtrial"] + args.argv)
            print(res.summary())
            print("wrote     " + ", ".join(str(p) for p in paths.values()))
    except Terminated:
        print("terminated", file=sys.stderr)
        return EXIT_TERMINATED
    return 0


def _cmd_report(args) -> int:
    from .present.report import write_report
    from .sim.driver import pool_session
    with pool_session():                    # one progress bar for the report's simulations
        path = write_report(args.output_dir)
    print(f"wrote     {path}")
    return 0


def _cmd_power(args) -> int:
    from .oc.run import power
    sc = _load(args)
    dm = _design(sc)
    n = args.n_per_arm if args.n_per_arm is not None else sc.design.n_per_arm
    _check_n_option(dm, n)
    res = power(dm, n, workers=args.workers, progress=not args.json and sys.stderr.isatty(),
                kernel=args.kernel)
    if args.json:
        _print_json(res.to_dict())
    else:
        print(res.summary())
    return 0


def _check_n_option(dm, n: int) -> None:
    """Refuse (one line) a --n-per-arm that is too large or gives an arm or stratum too small."""
    from .model.design import group_sizes
    from .sim.driver import valid_n
    sc = dm.scenario
    if n > 100_000:
        raise SimtrialError(f"usage error: --n-per-arm = {n} must be <= 100000")
    if not valid_n(dm, n):
        sizes = group_sizes(dm, n).sum(axis=0) if n >= 1 else [n]
        if len(dm.arms) == 1 and len(dm.strata) == 1 and n >= 2:
            raise SimtrialError(
                f"usage error: --n-per-arm = {n} gives an MSC arm of {int(sizes[1])} patient"
                f"{'s' * (int(sizes[1]) != 1)} at design.allocation_ratio = "
                f"{sc.design.allocation_ratio:g}; the MSC arm needs >= 2")
        raise SimtrialError(f"usage error: --n-per-arm = {n} gives arms of "
                            + ", ".join(str(int(x)) for x in sizes)
                            + " patients; every arm needs >= 2 and every stratum >= 1")


def _targets_arg(targets: list[float]):
    """One target as a number (the single-answer API and JSON), several as a list."""
    return targets[0] if len(targets) == 1 else list(targets)


def _print_answers(name: str, res, as_json: bool) -> None:
    """One answer (JSON object, one line) or several (JSON list, one line each)."""
    many = isinstance(res, tuple)
    if as_json:
        _print_json([r.to_dict() for r in res] if many else res.to_dict())
    else:
        for r in (res if many else (res,)):
            print(f"{name}: {r.summary()}")


def _cmd_sample_size(args) -> int:
    from .oc.run import sample_size
    sc = _load(args)
    res = sample_size(_design(sc), _targets_arg(args.target_power), target=args.target,
                      workers=args.workers, progress=not args.json and sys.stderr.isatty(),
                      kernel=args.kernel)
    _print_answers(sc.name, res, args.json)
    return 0


def _cmd_mde(args) -> int:
    from .oc.mde import check_mde
    from .oc.run import mde
    sc = _load(args)
    check_mde(sc)
    dm = _design(sc)
    n = args.n_per_arm if args.n_per_arm is not None else sc.design.n_per_arm
    _check_n_option(dm, n)
    res = mde(dm, n, _targets_arg(args.target_power), workers=args.workers, kernel=args.kernel)
    _print_answers(sc.name, res, args.json)
    return 0


def _cmd_validate(args) -> int:
    return _validate_design(args, _load_scenario(args.scenario))


def _adaptive_line(dm) -> str:
    """validate: the [adaptive] design's stage sizes and final test, after the checks a run
    makes."""
    from .oc.adaptive import check
    from .sim.adaptive import plan_for
    check(dm, dm.scenario.design.n_per_arm)
    cfg = dm.scenario.adaptive
    p = plan_for(dm, dm.scenario.design.n_per_arm)
    early, final = p.bounds(p.test)
    eff = f", early efficacy z >= {early:.4f} ({cfg.efficacy})" if cfg.efficacy != "none" else ""
    fut = (f", futility {cfg.futility} < {p.threshold:g}"
           f" ({'binding' if cfg.binding else 'non-binding'})" if cfg.futility != "none" else "")
    if cfg.selection is not None:
        when = (f" on the {cfg.select_visit_months}-month analysis"
                if cfg.select_visit_months else "")
        return (f"adaptive selection {cfg.selection}{when}: n1 = {p.n1} per arm, stage 2 "
                f"{p.n2_planned} per arm for control and the selected arms; closed "
                f"{cfg.intersection} {cfg.test} test, one-sided alpha {p.alpha:g}, final "
                f"critical value {final:.4f}")
    return (f"adaptive {cfg.rule}{' (blinded SD)' if cfg.blinded_sd else ''}: n1 = {p.n1}, "
            f"planned stage 2 {p.n2_planned}, stage 2 in [{p.min_stage2}, {p.max_stage2}] per "
            f"arm (cap {p.n1 + p.max_stage2}); {cfg.test} test, one-sided alpha {p.alpha:g}, "
            f"final critical value {final:.4f}{eff}{fut}")


def _bayes_line(dm, kernel: str) -> str:
    """validate: the [bayes] prior (its mean, SD and ESS), after the checks a run makes."""
    from .oc.bayes import check, prior_for
    from .stats.bayes import ess
    check(dm, kernel)
    cfg = dm.scenario.bayes
    p = prior_for(dm)
    rule = (f"Go if P(benefit) > {cfg.go_prob:g} and median beyond {cfg.go_value:g}; No-Go if "
            f"P(beyond {cfg.nogo_threshold:g}) < {cfg.nogo_prob:g}")
    if p.mixture is None:
        return f"bayes {cfg.prior} (flat) prior on the {cfg.target}; {rule}"
    m = p.mixture
    return (f"bayes {cfg.prior} prior on the {cfg.target}: mean {m.mean:+.4g}, SD {m.sd:.4g}, "
            f"{m.k} components, ESS {ess(m, p.sigma_unit, 'elir'):.1f} (ELIR) / "
            f"{ess(m, p.sigma_unit, 'moment'):.1f} (moment); {rule}")


def _validate_design(args, sc) -> int:
    """validate: the resolved design (strata, arms, hypotheses, dropout, multiplicity, looks,
    conduct) and which simulation kernel will run it."""
    from .model.design import build_design, group_sizes
    from .sim.driver import kernel_for
    dm = _design(sc)
    d = dm.to_dict(models=args.json)     # the text needs no other outcome's calibration
    kernel = kernel_for(dm)
    if args.json:
        _print_json({"scenario": sc.to_dict(), "scenario_hash": sc.hash(), "kernel": kernel,
                     "design": d, "model": dm.models[0].to_dict()})
        return 0
    print(f"{args.scenario}: valid")
    print(f"  scenario {sc.name} (hash {sc.hash()[:12]}), seed {sc.seed}, {sc.n_trials:,} trials;"
          f" {kernel} kernel")
    for s, f, m in zip(dm.strata, dm.fractions, dm.models):
        crit = ", ".join(f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in m.population.criteria.items())
        print(f"  stratum {s} {f:.0%}: criteria {crit or 'none'}; screen failures "
              f"{m.screen_fail_prob:.1%}")
    sizes = group_sizes(dm, sc.design.n_per_arm).sum(axis=0)
    print("  arms " + ", ".join(f"{a['name']} (ratio {a['ratio']:g}, effect x{a['effect_scale']:g}) "
                                f"{int(n)}" for a, n in zip(d["arms"], sizes)) + " patients")
    for h in dm.hypotheses:
        e = h.endpoint
        what = e.outcome if e.type == "continuous" else "responder(" + ", ".join(e.outcomes) + ")"
        truth = "" if h.truth != h.truth else f"; truth {h.truth:+.4g}"
        margin = f", margin {e.margin:g}" if e.hypothesis == "noninferiority" else ""
        scale = f" ({e.scale} scale)" if e.type == "continuous" else f" (missing: {e.missing})"
        print(f"  hypothesis {h.label}: {what} at {e.visit_months} mo, {e.analysis}{scale}, "
              f"{e.hypothesis}{margin}{truth}")
    m0 = dm.models[0]
    e0 = sc.endpoint
    if e0.type == "continuous":
        print(f"  endpoint {e0.outcome} at {e0.visit_months} months ({e0.analysis}); MD by visit "
              + ", ".join(f"{mo} mo {v:+.4g}" for mo, v in zip(m0.visits, m0.md[e0.outcome])))
        print(f"  effect source: {m0.md_source[e0.outcome][m0.k_end]}")
        print("  " + endpoint_variance_line(m0))
    for i, e in enumerate(sc.all_endpoints):
        if e.type == "responder":
            print("  " + responder_size_line(dm, i, sc.design.n_per_arm))
    for name, text in m0.conversions.items():
        if name in dm.outcomes:
            print(f"  {name}: {text}")
    if d["dropout"] is not None:
        dd = d["dropout"]
        print(f"  dropout {dd['mechanism']}: hazard per visit "
              + ", ".join(f"{x:.3f}" for x in dd["hazard_per_visit"])
              + f" (cumulative {dd['cumulative_mcar']:.1%} before MAR/MNAR shifts)")
    m = d["multiplicity"]
    print(f"  multiplicity {m['method']}" + (f" (within {m['within']})" if m["within"] else ""))
    if sc.bayes is not None:
        print("  " + _bayes_line(dm, kernel))
    if getattr(sc, "adaptive", None) is not None:
        print("  " + _adaptive_line(dm))
    if dm.boundaries is not None:
        print(f"  sequential {dm.boundaries.summary()}")
    if getattr(sc, "conduct", None) is not None:
        print("  conduct " + json.dumps(_plain_json(sc.conduct.to_toml()), separators=(", ", ": ")))
    for s in getattr(sc, "safety", ()):
        print("  " + safety_line(s))
    return 0


def safety_line(s) -> str:
    """What `validate` says about one [[safety]] table: rates, prior and monitoring rule."""
    unit = "per patient" if s.per == "patient" else "per patient-year"
    if s.prior == "evidence":
        w = f", weight {s.evidence_weight:g}" if s.evidence_weight != 1.0 else ""
        msc = f"MSC rate drawn per trial from safety.csv row {s.evidence}{w}"
        ctrl = (f"control {s.rate_control:g}" if s.rate_control is not None
                else "control drawn from the same row")
    else:
        msc, ctrl = f"MSC {s.rate_msc:g}", f"control {s.rate_control:g}"
    line = (f"safety {s.name} ({unit}): {msc}, {ctrl}; analysis prior "
            f"{'Beta' if s.per == 'patient' else 'Gamma'}({s.prior_a:g}, {s.prior_b:g})")
    m = s.monitoring
    if m is not None:
        looks = (", ".join(f"{f:g}" for f in m.looks) if m.looks
                 else "the [sequential] looks, else the end")
        rule = (f"P(diff > {m.margin:g}) > {m.threshold:g}" if m.rule == "bayes"
                else f"score z vs {m.spending} spending at alpha {m.alpha:g}")
        line += f"; harm monitoring {m.rule}: stop if {rule} at {looks}"
    return line


def endpoint_variance_line(m) -> str:
    """What the ANCOVA of the primary endpoint will see (issue 12 item 7): ``rho`` is the
    correlation of the baseline with the endpoint *value*; the change's correlation with the
    baseline, the residual SD and the R-squared follow from it."""
    vm, k = m.endpoint, m.k_end
    od = vm.outcome
    sd_c = m.analytic.get("sd_change_control", m.analytic["sd_change"])
    res = m.analytic.get("sd_resid_control", m.analytic["sd_resid_ancova"])
    r2 = max(0.0, 1.0 - (res / sd_c) ** 2) if sd_c > 0 else float("nan")
    scale = " (log scale)" if od.scale == "log" else ""
    # corr(X0, Xt - X0) = (rho s0 s1 - s0^2) / (s0 sd_change) = beta s0 / sd_change
    r_change = vm.beta[k] * vm.s0 / float(vm.sd_change[k]) if vm.sd_change[k] else 0.0
    return (f"natural history at {m.visits[k]} mo (control): SD of change "
            f"{vm.sd_change[k]:.3g}{scale}, rho = corr(baseline, value at the visit) "
            f"{vm.rho[k]:.3g} (corr(baseline, change) {r_change:+.3g}); ANCOVA residual SD "
            f"{res:.3g} {od.unit}, R-squared of the change on the baseline {r2:.2f}")


def responder_size_line(dm, i: int, n: int) -> str:
    """Exact size of the responder test at the design N (issue 12 item 9)."""
    from .model.design import group_sizes
    from .sim.full import control_responder_rate
    from .stats.exact import EXACT_SIZE_MAX_N, SIZE_ANALYSES, responder_test_size
    sc = dm.scenario
    e = sc.all_endpoints[i]
    sizes = group_sizes(dm, n).sum(axis=0)
    if sizes.max() > EXACT_SIZE_MAX_N:
        return (f"exact size of {e.name!r} ({e.analysis}) not enumerated at N = "
                f"{int(sizes[0])}/{int(sizes[1])}: above {EXACT_SIZE_MAX_N} per arm the "
                "large-sample tests are at their level")
    p = control_responder_rate(dm, sc.seed, n, i)
    a, sides = sc.design.alpha, sc.design.sides
    size = {t: responder_test_size(t, int(sizes[0]), int(sizes[1]), p, a, sides)
            for t in SIZE_ANALYSES if t != "cmh"}
    chosen = "chisq" if e.analysis == "cmh" else e.analysis
    others = ", ".join(f"{t} {v:.4f}" for t, v in size.items() if t != chosen)
    note = ", evaluated as one stratum" if e.analysis == "cmh" else ""
    flag = ("  LIBERAL" if size[chosen] > a * 1.1 else
            "  conservative" if size[chosen] < a * 0.5 else "")
    return (f"exact size of {e.name!r} ({e.analysis}{note}) at N = {int(sizes[0])}/"
            f"{int(sizes[1])}, null responder rate {p:.3f} (control, model): "
            f"{size[chosen]:.4f} at alpha {a:g}{flag}; {others}")


def _plain_json(obj):
    from .io.outputs import to_jsonable
    return to_jsonable(obj)


def _cmd_evidence(args) -> int:
    from .model.evidence import evidence_version, load_evidence
    table = load_evidence()
    if args.json:
        _print_json({"evidence_version": evidence_version(),
                     "rows": json.loads(table.to_json(orient="records"))})
        return 0
    import pandas as pd
    cols = ["id", "outcome", "time_months", "population", "analysis", "md", "ci_low", "ci_high",
            "p_value", "i2", "k", "se", "se_method", "flag", "default"]
    with pd.option_context("display.max_rows", None, "display.width", 200,
                           "display.max_columns", None):
        print(f"evidence version {evidence_version()} ({len(table)} rows; MD = MSC - control)")
        print(table[cols].to_string(index=False, na_rep=""))
    return 0


def _cmd_meta(args) -> int:
    from .model.evidence_rows import check_row_request, evidence_row, evidence_row_csv
    from .stats.meta import METHOD_LABELS, pool, read_studies
    from .io.outputs import atomic_write_text
    row_opts = {"--id": args.row_id, "--outcome": args.outcome, "--time-months": args.time_months,
                "--population": args.population}
    time_months = None
    out = None
    if args.write_row is not None:
        missing = [k for k, v in row_opts.items() if v is None]
        if missing:
            raise SimtrialError(f"usage error: --write-row needs {', '.join(missing)} (e.g. --id "
                                "user_hba1c_12m_all --outcome hba1c --time-months 12 "
                                "--population all)")
        text = args.time_months.strip().lower()
        if text != "none":
            try:
                time_months = int(text)
            except ValueError:
                raise SimtrialError(f"usage error: --time-months = {args.time_months!r} must be 3, "
                                    "6, 12 or none") from None
        check_row_request(args.row_id, args.outcome, time_months, args.population,
                          names={"id": "--id", "outcome": "--outcome",
                                 "time_months": "--time-months", "population": "--population"})
        if args.source is not None and not args.source.strip():
            raise SimtrialError('usage error: --source = "" must name the data pooled')
        out = Path(args.write_row)
        if out.is_dir():
            raise SimtrialError(f"usage error: --write-row = {str(out)!r} is a folder; give a file "
                                "name (e.g. my_row.csv)")
    else:
        given = [k for k, v in {**row_opts, "--source": args.source, "--note": args.note}.items()
                 if v is not None]
        if given:
            raise SimtrialError(f"usage error: {given[0]} is only used with --write-row OUT.csv")

    yi, vi, table = read_studies(args.file)
    res = pool(yi, vi, method=args.method, hksj=args.hksj, level=args.level, pi_dist=args.pi_dist)
    name = Path(args.file).name
    wrote = None
    if out is not None:
        n = int(table["n"].sum()) if table["n"].notna().all() else None
        method = METHOD_LABELS[res.method] + (" + HKSJ" if res.hksj else "")
        row = evidence_row(res, id=args.row_id, outcome=args.outcome, time_months=time_months,
                           population=args.population,
                           source=args.source or f"user re-pool of {name}", note=args.note or "",
                           n=n, source_detail=f"simtrial meta: {method} re-pool of k = {res.k} "
                                              f"studies in {name}")
        try:
            atomic_write_text(out, evidence_row_csv(row))
        except OSError as exc:
            raise SimtrialError(f"usage error: --write-row = {str(out)!r} cannot be written "
                                f"({exc.strerror or exc})") from None
        wrote = str(out)
        flag = row["flag"]      # the message says what the row says
    if args.json:
        d = res.to_dict()
        d.update(file=str(args.file), format=table.attrs.get("format"),
                 studies=[{"study": s, "yi": y, "vi": v} for s, y, v in
                          zip(table["study"], table["yi"], table["vi"])])
        if wrote:
            d["wrote"] = wrote
        _print_json(d)
    else:
        print(res.summary(label=f"{name} ({table.attrs.get('format')})"))
        if wrote:
            print(f"wrote     {wrote} (evidence row {args.row_id!r}, flag {flag}, not default; "
                  "append its data line to your own evidence CSV)")
    return 0


def _number_list(option: str, text: str, example: str) -> list[float]:
    """Parse a comma-separated list of numbers for a CLI option (one-line usage error)."""
    items = [x.strip() for x in text.split(",")]
    try:
        values = [float(x) for x in items]
    except ValueError:
        raise SimtrialError(f"usage error: {option} = {text!r} must be comma-separated numbers "
                            f"(e.g. {example})") from None
    return values


def _cmd_boundaries(args) -> int:
    from .stats.gsd import boundaries
    try:
        alpha = float(args.alpha)
    except ValueError:
        raise SimtrialError(f"usage error: --alpha = {args.alpha!r} must be a number in (0, 0.5) "
                            "(e.g. 0.025)") from None
    gamma = None
    if args.gamma is not None:
        try:
            gamma = float(args.gamma)
        except ValueError:
            raise SimtrialError(f"usage error: --gamma = {args.gamma!r} must be a number "
                                "(e.g. -4)") from None
    if args.looks is not None and args.looks > 100:
        raise SimtrialError(f"usage error: --looks = {args.looks} must be <= 100")
    if args.fractions is not None:
        fractions = _number_list("--fractions", args.fractions, "0.5,1")
        if args.looks is not None and len(fractions) != args.looks:
            raise SimtrialError(f"usage error: --fractions = {args.fractions!r} has "
                                f"{len(fractions)} values but --looks = {args.looks}; give one "
                                "fraction per look")
    elif args.looks is not None:
        fractions = [k / args.looks for k in range(1, args.looks + 1)]
    else:
        raise SimtrialError("usage error: simtrial boundaries needs --looks K or --fractions "
                            "(e.g. --looks 3)")
    futility = None
    if args.futility is not None:
        futility = _number_list("--futility", args.futility, "0,0.5")
    names = {"fractions": "--fractions", "alpha": "--alpha", "sides": "--sides",
             "spending": "--spending", "gamma": "--gamma", "futility": "--futility",
             "binding": "--binding"}
    res = boundaries(fractions, alpha=alpha, sides=args.sides, spending=args.spending, gamma=gamma,
                 futility=futility, binding=args.binding, names=names)
    if args.json:
        _print_json(res.to_dict())
    else:
        print(res.summary())
        print(res.table())
    return 0


def _cmd_batch(args) -> int:
    from ._procs import EXIT_TERMINATED, Terminated, sigterm_raises
    if args.scheduler is not None and args.workers is not None:
        raise SimtrialError("usage error: --workers is not used with --scheduler (the Dask "
                            "cluster's workers run the design points); drop --workers")
    try:
        with sigterm_raises():      # unwinds like Ctrl-C: workers stopped, manifest "interrupted"
            from .batch import EXIT_POINT_FAILED, collect_points, run_batch
            points = collect_points(args.paths, n_trials=args.n_trials, seed=args.seed)
            show = args.progress or (not args.quiet and sys.stderr.isatty())
            res = run_batch(points, Path(args.out), workers=args.workers or 1,
                            scheduler=args.scheduler, resume=args.resume, progress=show,
                            command=["simtrial"] + args.argv)
    except Terminated:
        print("terminated", file=sys.stderr)
        return EXIT_TERMINATED
    print(res.summary(failures_only=args.quiet))
    print("wrote     " + ", ".join(str(p) for p in res.files.values()))
    return EXIT_POINT_FAILED if res.n_failed else 0


def _cmd_lesson(args) -> int:
    from .present.lessons import LESSONS, MIN_TRIALS, get_lesson, run_lesson
    if args.name is None:
        given = [o for o, v in (("--out", args.out), ("--seed", args.seed),
                                ("--n-trials", args.n_trials)) if v is not None]
        if given:
            raise SimtrialError(f"usage error: {given[0]} needs a lesson NAME (e.g. simtrial "
                                f"lesson {next(iter(LESSONS))} {given[0]} ...)")
        width = max(len(n) for n in LESSONS)
        for les in LESSONS.values():
            print(f"{les.name:<{width}}  {les.summary}")
        print("run one with: simtrial lesson NAME [--out DIR] [--seed S]; all: simtrial lesson all")
        return 0
    names = list(LESSONS) if args.name == "all" else [get_lesson(args.name).name]
    if args.n_trials is not None and args.n_trials < MIN_TRIALS:
        raise SimtrialError(f"usage error: --n-trials = {args.n_trials} must be >= {MIN_TRIALS} "
                            "for a lesson (e.g. --n-trials 5000)")
    root = Path(args.out) if args.out else Path("outputs") / "lessons"
    for n in names:
        _check_out_dir(root, root / n)
    for n in names:
        from .sim.driver import pool_session
        with pool_session():                # one progress bar per lesson
            run = run_lesson(n, root, seed=args.seed, n_trials=args.n_trials)
        res = run.result
        print(f"lesson    {n}: {run.lesson.title} (seed {res.seed}, {res.n_trials:,} trials per "
              f"design point, {run.timings['compute_s']:.1f} s)")
        for line in res.headline():
            print(f"          {line}")
        print(f"wrote     {run.report} (figures/, lesson.json beside it)")
    return 0


_COMMANDS = {"run": _cmd_run, "power": _cmd_power, "sample-size": _cmd_sample_size,
             "mde": _cmd_mde, "compare": _cmd_compare,
             "validate": _cmd_validate, "evidence": _cmd_evidence, "meta": _cmd_meta,
             "boundaries": _cmd_boundaries, "batch": _cmd_batch, "report": _cmd_report}


_COMMANDS["lesson"] = _cmd_lesson


def _number(option: str, text: str, example: str, *, lo: float, hi: float = float("inf"),
            lo_open: bool = True, hi_open: bool = True, integer: bool = False):
    """A number option within bounds, else a one-line usage error."""
    try:
        v = int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise SimtrialError(f"usage error: {option} = {text!r} must be {kind} (e.g. "
                            f"{option} {example})") from None
    ok_lo = v > lo if lo_open else v >= lo
    ok_hi = v < hi if hi_open else v <= hi
    if not (ok_lo and ok_hi and v == v):
        rng = (("(" if lo_open else "[") + f"{lo:g}, " + (f"{hi:g}" if hi != float("inf")
                                                           else "inf")
               + (")" if hi_open else "]"))
        raise SimtrialError(f"usage error: {option} = {text} must be in {rng} (e.g. {option} "
                            f"{example})")
    return v


def _cmd_safety(args) -> int:
    """Closed-form safety answers (stats.safety.closed_form_answers); writes nothing."""
    n = _number("--n-treated", args.n_treated, "279", lo=1, lo_open=False, hi=10**9,
                integer=True)
    years = None
    if args.years is not None:
        years = _number("--years", args.years, "1", lo=0.0, hi=100.0, hi_open=False)
    hi = 1.0 if years is None else 1000.0
    unit = "a probability per patient" if years is None else "a rate per patient-year"
    try:
        rate = _number("--rate", args.rate, "0.01", lo=0.0, hi=hi)
    except SimtrialError as exc:
        raise SimtrialError(f"{exc} ({unit})") from None
    conf = _number("--confidence", args.confidence, "0.95", lo=0.0, hi=1.0)
    k = _number("--events", args.events, "0", lo=0, lo_open=False, integer=True)
    if k > n:
        raise SimtrialError(f"usage error: --events = {k} must be <= --n-treated = {n}")
    from .stats.safety import closed_form_answers
    a = closed_form_answers(n, rate, years, conf, k)
    if args.json:
        _print_json(a)
        return 0
    c = f"{conf:.4g}"
    if years is None:
        head = f"rate {rate:.4g} per patient over the follow-up; {n} patients treated"
        rows = [(f"P(>= 1 event in {n})", f"{a['p_any_event']:.4f}",
                 f"1 - (1 - p)^N; expected events {a['expected_events']:.4g}"),
                (f"patients to rule out {rate:.4g}", f"{a['n_to_rule_out']}",
                 f"with <= {k} events, one-sided {c}; Clopper-Pearson"),
                (f"{k}/{n} rules out rates above", f"{a['upper_bound']:.4f}",
                 f"one-sided {c} Clopper-Pearson upper bound, per patient"),
                (f"rule of three (0/{n})", f"{a['rule_of_three']:.4f}", "3 / N, about 95%")]
    else:
        e = a["patient_years"]
        head = (f"rate {rate:.4g} per patient-year; {n} patients x {years:g} years = {e:.4g} "
                "patient-years")
        rows = [("P(>= 1 event)", f"{a['p_any_event']:.4f}",
                 f"1 - exp(-rate N Y); expected events {a['expected_events']:.4g}"),
                (f"patients to rule out {rate:.4g}", f"{a['n_to_rule_out']}",
                 f"{a['patient_years_to_rule_out']:.4g} patient-years with <= {k} events, "
                 f"one-sided {c}; Garwood"),
                (f"{k} events in {e:.4g} patient-years rule out rates above",
                 f"{a['upper_bound']:.4g}", f"per patient-year, one-sided {c} Garwood"),
                ("rule of three", f"{a['rule_of_three']:.4g}",
                 "3 / patient-years, about 95%")]
    print(head)
    w = max(len(r[0]) for r in rows)
    v = max(len(r[1]) for r in rows)
    for label, value, note in rows:
        print(f"  {label:<{w}}  {value:>{v}}   ({note})")
    return 0


_COMMANDS["safety"] = _cmd_safety


def _cmd_simulate(args) -> int:
    """Write the patient-level table of ``--n-trials`` replicate trials (sim.export)."""
    from .io.outputs import atomic_write
    from .model.design import build_design
    from .sim.export import export_patients, export_rows
    sc = _load_scenario(args.scenario)
    out = Path(args.out) if args.out else Path("outputs") / sc.name / "patients.csv"
    kind = out.suffix.lower()
    if kind not in (".csv", ".parquet"):
        raise SimtrialError(f"usage error: --out = {str(out)!r} must end in .csv or .parquet "
                            "(e.g. --out patients.csv)")
    if kind == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise SimtrialError(f"usage error: --out = {str(out)!r} needs pyarrow (pip install "
                                "pyarrow); or write .csv") from None
    if out.is_dir():
        raise SimtrialError(f"usage error: --out = {str(out)!r} is a folder; give a file name "
                            "(e.g. patients.csv)")
    _check_writable(str(out), out.parent)
    dm = _design(sc)
    seed = sc.seed if args.seed is None else args.seed
    export_rows(dm, args.n_trials, args.n, names={"n_trials": "--n-trials", "n": "--n"})
    table = export_patients(dm, args.n_trials, args.n, seed=seed)

    def write(tmp: str) -> None:
        if kind == ".csv":
            table.to_csv(tmp, index=False)      # full precision: the re-fit is exact
        else:
            table.to_parquet(tmp, index=False, engine="pyarrow")
    try:
        atomic_write(out, write)
    except OSError as exc:
        raise SimtrialError(f"usage error: --out = {str(out)!r} cannot be written "
                            f"({exc.strerror or exc})") from None
    n = sc.design.n_per_arm if args.n is None else args.n
    patients = table["patient"].max() + 1
    print(f"wrote     {out}: {len(table):,} rows = {args.n_trials:,} trial"
          f"{'s' * (args.n_trials != 1)} x {patients:,} patients x {len(dm.visits) + 1} months "
          f"(N = {n} per arm, seed {seed})")
    return 0


_COMMANDS["simulate"] = _cmd_simulate


def _cmd_schema(args) -> int:
    """Print (or write) the JSON Schema of a scenario file, from simtrial.spec's declarations.

    Point an editor at it, e.g. a first line ``#:schema ./scenario.schema.json`` in the TOML file
    (Taplo / Even Better TOML), after ``simtrial schema --out scenario.schema.json``.
    """
    from .spec.schema import json_schema
    text = json.dumps(json_schema(), indent=2, allow_nan=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SimtrialError(f"usage error: simtrial schema: cannot write --out {args.out!r}: "
                            f"{exc.strerror or exc}") from None
    print(f"wrote {args.out}")
    return 0


_COMMANDS["schema"] = _cmd_schema


def _cmd_app(args) -> int:
    try:
        from .app import serve
    except ImportError as exc:
        raise SimtrialError(f"usage error: simtrial app needs {exc.name or 'shiny'} "
                            "(pip install 'simtrial[app]')") from None
    return serve(args.scenario, host=args.host, port=args.port, out=args.out)


_COMMANDS["app"] = _cmd_app


def _quietly(command, args) -> int:
    """Run a command with Python warnings captured, not printed: stderr carries only the one
    error line and the model's own ``warning:`` lines (numbers that would have warned are
    caught by the finite-result checks instead). ``SIMTRIAL_DEBUG=1`` prints them afterwards."""
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return command(args)
        finally:
            if os.environ.get("SIMTRIAL_DEBUG"):
                for w in caught:
                    print(f"debug: {w.category.__name__}: {w.message} ({w.filename}:{w.lineno})",
                          file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``simtrial`` console script; returns the exit code."""
    os.environ.setdefault("MPLBACKEND", "Agg")     # files only: never open a window
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        if args.command is None:
            parser.print_help()
            return EXIT_BAD_INPUT
        from .sim import budget
        budget.start()
        # progress on stderr for a person at a terminal only (never in --json or --quiet;
        # batch has its own bar and its workers must not inherit this one)
        enable_progress(sys.stderr.isatty() and args.command != "batch"
                        and not getattr(args, "quiet", False)
                        and not getattr(args, "json", False))
        rc = _quietly(_COMMANDS[args.command], args)
        if sigint_pending():       # a Ctrl-C was swallowed on the way: still an interruption
            raise KeyboardInterrupt
        return rc
    except SimtrialError as exc:
        print(one_line(str(exc)) if str(exc) else type(exc).__name__, file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sigint_handled()
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # an internal bug: one line unless debugging
        if os.environ.get("SIMTRIAL_DEBUG"):
            raise
        print(one_line(f"internal error: {type(exc).__name__}: {exc}") + " (set SIMTRIAL_DEBUG=1 "
              "for a traceback; please report)", file=sys.stderr)
        return 1


def entry() -> None:
    """Run :func:`main` and exit with its code; Ctrl-C before main's own handler (while the
    parser is built) is the same one line, 'interrupted', exit code 130, and one that Python
    loses on the way (:func:`~simtrial._procs.sigint_redelivered`) comes back."""
    sigint_redelivered()
    try:
        code = main()
    except KeyboardInterrupt:
        sigint_handled()
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    entry()
