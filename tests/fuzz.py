"""Scenario fuzzing (issue 13): generated scenario files through ``validate``, ``power`` and ``run``.

Each case is a shipped scenario with one to three mutations (a key deleted, a wrong type, NaN,
infinity, huge or tiny numbers, schema boundary values just inside and just outside, unknown keys,
control characters, long strings and arrays, extra arms, visits or tables taken from another
shipped scenario) or a raw-byte case (random bytes, invalid UTF-8, a truncated file, arrays and
table headers nested thousands deep, a megabyte key). Cases are a pure function of
``(seed, index)``, so any finding is reproduced by its index.

Every command runs in-process in a worker process under a CPU-time alarm and an address-space
limit, in a fresh working folder, with stderr captured. An outcome is one of

- ``error``: exit code 2 and exactly one line on stderr (the contract for bad input);
- ``ok``: exit code 0, stderr empty but for the model's own ``warning: ...`` lines;
- ``stderr``: exit code 0 or 2 with anything else on stderr (numpy warnings, a second line);
- ``internal``: exit code 1 or an exception escaping ``main`` (a bug);
- ``hang``: the command ran past the time limit;
- ``memory``: MemoryError (or the address-space limit was hit);
- ``debris``: a failed command left files, or ``validate``/``power`` wrote any file.

``python -m tests.fuzz --cases 5000`` (or ``benchmarks/fuzz.py``) prints the table of the issue and
writes every case that is not ``error`` or ``ok`` to ``--keep DIR`` as a reproducer.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import contextlib
import io
import json
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (ROOT / "scenarios").rglob("*.toml"))
COMMANDS = ("validate", "power", "run")
OUTCOMES = ("error", "ok", "stderr", "internal", "hang", "memory", "debris")

# ---------------------------------------------------------------------------------------------
# TOML writer (enough for scenarios: tables, arrays of tables, scalars, nan/inf, big integers)
# ---------------------------------------------------------------------------------------------


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)     # a TOML basic string is JSON-compatible
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_scalar(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def _key(k: str) -> str:
    return k if k and all(c.isalnum() or c in "_-" for c in k) and k.isascii() else json.dumps(k)


def _is_table_array(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def to_toml(data: dict, prefix: str = "") -> str:
    """Serialise a scenario dict (scalars first, then tables, then arrays of tables)."""
    lines = [f"{_key(k)} = {_scalar(v)}" for k, v in data.items()
             if not isinstance(v, dict) and not _is_table_array(v)]
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in data.items():
        name = f"{prefix}{_key(k)}"
        if isinstance(v, dict):
            out += f"\n[{name}]\n" + to_toml(v, name + ".")
        elif _is_table_array(v):
            for item in v:
                out += f"\n[[{name}]]\n" + to_toml(item, name + ".")
    return out


# ---------------------------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------------------------

_SCHEMA = None


def _schema() -> dict:
    """{table: {key: json-schema property}} from simtrial's own schema ("" is the top level)."""
    global _SCHEMA
    if _SCHEMA is None:
        from simtrial.spec.schema import json_schema
        s = json_schema()
        defs = s["$defs"]
        out = {"": s["properties"]}
        for k, v in s["properties"].items():
            ref = v.get("$ref") or v.get("items", {}).get("$ref")
            if ref:
                out[k] = defs[ref.rsplit("/", 1)[1]]["properties"]
        out["conduct.regimen"] = defs["RegimenConfig"]["properties"]
        out["conduct.manufacturing"] = defs["ManufacturingConfig"]["properties"]
        _SCHEMA = out
    return _SCHEMA


WRONG = ["abc", "", True, [], {}, [1, 2], {"x": 1}, 0, -1, 1.5]
NUMBERS = [float("nan"), float("inf"), float("-inf"), 0, 0.0, -0.0, -1, 1, 2, 3, 0.5, 0.999999,
           1e-300, 5e-324, -1e-300, 1e308, -1e308, 1e9, -1e9, 100000, 100001, 10 ** 401,
           -(10 ** 401), 2 ** 63, 2 ** 63 - 1, 1e-12, 12, 24, 36, 1000]
STRINGS = ["", " ", "a\nb", "tab\there", "\x1b[31mred", "\x00", "é✓", "x" * 5000,
           "../../etc/passwd", "CON", "batch_results.csv", "manifest.json", ".hidden", "a/b",
           "<script>alert(1)</script>", "url(javascript:x)", "href=x", "@import 'x'"]


def _leaves(node, path=()):
    """(path, value) of every leaf, table and array element of a parsed scenario."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path + (k,), v
            yield from _leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, (dict, list)):
                yield path + (i,), v
                yield from _leaves(v, path + (i,))


def _get_parent(data, path):
    node = data
    for p in path[:-1]:
        node = node[p]
    return node


def _schema_values(prop: dict, rnd: random.Random, valid: bool = False) -> list:
    """Boundary and typical values for one schema property (``valid``: only allowed ones)."""
    vals = []
    for alt in [prop] + prop.get("anyOf", []):
        if "enum" in alt:
            vals += list(alt["enum"]) + [str(alt["enum"][0]).upper() + "x"]
        if "const" in alt:
            vals.append(alt["const"])
        t = alt.get("type")
        if t in ("number", "integer"):
            lo = alt.get("minimum", alt.get("exclusiveMinimum"))
            hi = alt.get("maximum", alt.get("exclusiveMaximum"))
            step = 1 if t == "integer" else 1e-9
            for b, inward in ((lo, step), (hi, -step)):
                if b is not None:
                    exclusive = b in (alt.get("exclusiveMinimum"), alt.get("exclusiveMaximum"))
                    vals += [b + inward] + ([] if exclusive else [b])
                    if not valid:
                        vals += [b - inward, b if exclusive else b - inward]
            if lo is not None and hi is not None:
                vals += [rnd.uniform(lo, hi) if t == "number" else rnd.randint(int(lo), int(min(hi, 10 ** 6)))]
        if t == "array":
            item = alt.get("items", {})
            base = _schema_values(item, rnd, valid) or [1.0, 2.0]
            vals += [[], [rnd.choice(base)], [rnd.choice(base) for _ in range(rnd.randint(2, 30))],
                     list(range(1, 25)), [rnd.choice(base)] * 2]
        if t == "boolean":
            vals += [True, False]
        if t == "string" and "enum" not in alt and not valid:
            vals += [rnd.choice(STRINGS)]
    if valid:     # drop the deliberately wrong enum spelling
        vals = [v for v in vals if not (isinstance(v, str) and v.endswith("x") and v.isupper())]
    return vals


def _mutate(data: dict, rnd: random.Random, donors: list[dict], gentle: bool = False) -> str:
    """Apply one mutation in place; return its label (``gentle``: allowed values only)."""
    kind = rnd.choice(["valid", "valid", "valid", "graft", "arms", "array"] if gentle else
                      ["delete", "wrong", "number", "scale", "schema", "schema", "valid",
                       "valid", "unknown", "string", "graft", "arms", "array", "nest_value"])
    leaves = list(_leaves(data))
    if kind == "delete" and leaves:
        path, _ = rnd.choice(leaves)
        parent = _get_parent(data, path)
        del parent[path[-1]]
        return f"delete {'.'.join(map(str, path))}"
    if kind in ("wrong", "number", "string", "scale") and leaves:
        path, old = rnd.choice(leaves)
        parent = _get_parent(data, path)
        if kind == "scale" and isinstance(old, (int, float)) and not isinstance(old, bool):
            new = old * rnd.choice([-1, 0.5, 2, 10, 1e3, 1e6, 1e-6]) + rnd.choice([0, 1, -1])
            new = int(new) if isinstance(old, int) and abs(new) < 1e18 else new
        else:
            new = rnd.choice({"wrong": WRONG, "number": NUMBERS, "string": STRINGS,
                              "scale": NUMBERS}[kind])
        parent[path[-1]] = new
        return f"{kind} {'.'.join(map(str, path))} = {_scalar(new)[:40]}"
    if kind in ("schema", "valid"):
        table = rnd.choice(list(_schema()))
        key = rnd.choice(list(_schema()[table]))
        vals = _schema_values(_schema()[table][key], rnd, valid=kind == "valid")
        if not vals:
            return "schema (no values)"
        v = rnd.choice(vals)
        node = data
        for part in table.split(".") if table else []:
            if part == "arms" or part == "endpoints":
                lst = node.setdefault(part, [])
                if not isinstance(lst, list) or not lst or not isinstance(lst[0], dict):
                    lst = node[part] = [{"name": "a1"} if part == "arms" else
                                        {"outcome": "fbg", "visit_months": 12}]
                node = rnd.choice(lst)
            else:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
        node[key] = v
        return f"{kind} {table + '.' if table else ''}{key} = {_scalar(v)[:40]}"
    if kind == "unknown":
        tables = [data] + [v for _, v in leaves if isinstance(v, dict)]
        rnd.choice(tables)[rnd.choice(["foo", "n_per_arms", "Seed", "x" * 300, "dé", "design"])] = 1
        return "unknown key"
    if kind == "graft" and donors:
        donor = rnd.choice(donors)
        k = rnd.choice(list(donor))
        data[k] = json.loads(json.dumps(donor[k]))
        return f"graft {k}"
    if kind == "arms":
        n = rnd.choice([1, 2, 3, 8, 9, 12])
        data["arms"] = [{"name": f"d{i}", "ratio": rnd.choice([1, 0.5, 2, 0.01, 10]),
                         "effect_scale": rnd.choice([1, 0.5, 0, 2])} for i in range(n)]
        if rnd.random() < 0.5:
            data.setdefault("multiplicity", {})["method"] = rnd.choice(
                ["dunnett", "bonferroni", "holm", "hochberg", "none"])
        return f"arms x{n}"
    if kind == "array":
        d = data.setdefault("design", {}) if isinstance(data.get("design"), dict) else {}
        choice = rnd.choice([list(range(1, 25)), list(range(1, 17)), [12], [3, 6, 12],
                             [0.5, 12], list(range(1, 10001)), [12, 12], [36]])
        d["visits"] = choice
        return f"design.visits x{len(choice)}"
    if kind == "nest_value" and leaves:
        path, old = rnd.choice(leaves)
        _get_parent(data, path)[path[-1]] = [[[old]]] if rnd.random() < 0.5 else {"v": old}
        return f"nest {'.'.join(map(str, path))}"
    return f"{kind} (no-op)"


def _raw_case(rnd: random.Random, text: str) -> tuple[str, bytes]:
    kind = rnd.choice(["bytes", "utf8", "truncate", "nest_array", "nest_table", "big_key",
                       "bom", "nul", "dup_key", "big_file"])
    if kind == "bytes":
        return kind, bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 2000)))
    if kind == "utf8":
        return kind, text.encode()[:200] + b"\xff\xfe\xc3" + text.encode()[200:]
    if kind == "truncate":
        return kind, text.encode()[:rnd.randint(0, len(text))]
    if kind == "nest_array":
        d = rnd.choice([50, 500, 2000, 5000])
        return f"nest_array {d}", (text + f"\nfoo = {'[' * d}1{']' * d}\n").encode()
    if kind == "nest_table":
        d = rnd.choice([50, 500, 2000, 5000])
        return f"nest_table {d}", (text + "\n[" + ".".join(["a"] * d) + "]\nx = 1\n").encode()
    if kind == "big_key":
        return kind, (text + f"\n{'k' * 1_000_000} = 1\n").encode()
    if kind == "bom":
        return kind, b"\xef\xbb\xbf" + text.encode()
    if kind == "nul":
        i = rnd.randint(0, len(text))
        return kind, (text[:i] + "\x00" + text[i:]).encode()
    if kind == "dup_key":
        return kind, (text + "\nseed = 1\n").encode()
    return kind, (text + "\n# " + "z" * 3_000_000 + "\n").encode()


def generate(index: int, seed: int = 0) -> tuple[str, bytes]:
    """Case ``index``: (label, file bytes); a pure function of (seed, index)."""
    rnd = random.Random(f"{seed}:{index}")
    path = rnd.choice(SHIPPED)
    text = path.read_text(encoding="utf-8")
    if rnd.random() < 0.06:
        kind, raw = _raw_case(rnd, text)
        return f"{path.stem}: raw {kind}", raw
    data = tomllib.loads(text)
    donors = [tomllib.loads(p.read_text(encoding="utf-8")) for p in rnd.sample(SHIPPED, 2)]
    gentle = rnd.random() < 0.4      # only allowed values: cases that reach the engine
    labels = [_mutate(data, rnd, donors, gentle) for _ in range(rnd.choice([1, 1, 2, 3]))]
    try:
        out = to_toml(data)
    except (TypeError, ValueError):
        out = text
    return f"{path.stem}: " + "; ".join(labels), out.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------------------------------------
# running a case
# ---------------------------------------------------------------------------------------------


class _Hang(BaseException):
    """Raised by the alarm: not an Exception, so no ``except Exception`` in simtrial catches it."""


def _alarm(signum, frame):
    raise _Hang()


def _init_worker(mem_gb: float, parent: int) -> None:
    import resource
    from simtrial._procs import die_with_parent
    die_with_parent(parent)        # a killed campaign takes its workers with it
    lim = int(mem_gb * 2 ** 30)
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    os.environ["MPLBACKEND"] = "Agg"
    # the documented time budget, set below the hang limit: a case the budget estimates at
    # more is refused cleanly; a case that runs past the hang limit is an estimate far too low
    os.environ.setdefault("SIMTRIAL_TIME_BUDGET_S", "30")
    signal.signal(signal.SIGALRM, _alarm)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def argv_for(command: str, case_file: str, out: str, n_trials: int) -> list[str]:
    if command == "validate":
        return ["validate", case_file]
    if command == "power":
        return ["power", case_file, "--n-per-arm", "10", "--n-trials", str(n_trials)]
    return ["run", case_file, "--n-trials", str(n_trials), "--out", out, "--quiet"]


def run_command(command: str, raw: bytes, *, n_trials: int = 200, timeout: float = 60.0
                ) -> dict:
    """Run one command on one case in this process; return its classified outcome."""
    import warnings
    from simtrial.cli import main
    work = Path(tempfile.mkdtemp(prefix="simtrial-fuzz-"))
    case = work / "case.toml"
    case.write_bytes(raw)
    before = set(_files(work))
    err, out = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    t0 = time.perf_counter()
    rc, exc = None, None
    try:
        os.chdir(work)
        with warnings.catch_warnings(), contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(out):
            warnings.simplefilter("always")       # every warning counts, even repeated ones
            signal.alarm(int(math.ceil(timeout)))
            try:
                rc = main(argv_for(command, str(case), str(work / "out"), n_trials))
            finally:
                signal.alarm(0)
    except _Hang:
        exc = "hang"
    except MemoryError:
        exc = "memory"
    except BaseException as e:   # noqa: BLE001 - anything escaping main is a finding
        exc = f"internal {type(e).__name__}: {e}"[:300]
    finally:
        os.chdir(cwd)
    seconds = time.perf_counter() - t0
    text = err.getvalue()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    left = sorted(set(_files(work)) - before)
    shutil.rmtree(work, ignore_errors=True)
    if exc == "hang":
        outcome = "hang"
    elif exc == "memory" or "MemoryError" in text:
        outcome = "memory"
    elif exc is not None or rc not in (0, 2):
        outcome = "internal"
    elif (rc != 0 and left) or (command != "run" and left):
        outcome = "debris"
    elif rc == 2:   # the model's warnings may come first; then exactly one error line
        other = [ln for ln in text.rstrip("\n").split("\n") if not ln.startswith("warning: ")]
        outcome = "error" if len(other) == 1 and other[0].strip() else "stderr"
    else:
        outcome = "ok" if all(ln.startswith("warning: ") for ln in lines) else "stderr"
    return {"command": command, "outcome": outcome, "rc": rc, "seconds": round(seconds, 3),
            "stderr": (exc or text)[:600], "left": left[:5]}


def run_case(index: int, seed: int, commands=COMMANDS, n_trials: int = 200,
             timeout: float = 60.0) -> dict:
    """Every command on case ``index``; ``run`` only when ``validate`` accepted the file (a
    rejected file is checked by ``run`` in a sample: it must fail the same way, before work)."""
    label, raw = generate(index, seed)
    res = {"index": index, "label": label[:200], "results": []}
    accepted = True
    for c in commands:
        if c == "run" and not accepted and index % 10:
            continue
        r = run_command(c, raw, n_trials=n_trials, timeout=timeout)
        if c == "validate":
            accepted = r["outcome"] == "ok"
        res["results"].append(r)
    return res


# ---------------------------------------------------------------------------------------------
# the campaign
# ---------------------------------------------------------------------------------------------


def campaign(cases: int, *, seed: int = 0, start: int = 0, workers: int = 2,
             commands=COMMANDS, n_trials: int = 200, timeout: float = 60.0,
             mem_gb: float = 6.0, progress=None, log: str | None = None) -> list[dict]:
    """Run cases ``start .. start + cases - 1`` on ``workers`` processes (each limited to
    ``mem_gb`` of address space); return the per-case results in index order. ``log``: append
    each case's result to this JSON-lines file as it finishes (a long run interrupted keeps
    what it did; :func:`read_log` reads it back)."""
    import multiprocessing as mp
    results = []
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                initializer=_init_worker, initargs=(mem_gb, os.getpid())) as ex:
        futs = [ex.submit(run_case, i, seed, commands, n_trials, timeout)
                for i in range(start, start + cases)]
        for k, f in enumerate(cf.as_completed(futs)):
            try:
                results.append(f.result(timeout=timeout * len(commands) + 60))
            except Exception as e:     # a worker died (e.g. killed by the OS): a finding
                results.append({"index": -1, "label": f"worker died: {e}",
                                "results": [{"command": "?", "outcome": "memory", "rc": None,
                                             "seconds": 0, "stderr": str(e), "left": []}]})
            if log:
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(results[-1]) + "\n")
            if progress:
                progress(k + 1, cases)
    return sorted(results, key=lambda r: r["index"])


def read_log(path: str) -> list[dict]:
    """The per-case results of one or more campaigns' ``log`` files (deduplicated by index)."""
    seen = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            seen[r["index"]] = r
    return [seen[i] for i in sorted(seen)]


def table(results: list[dict], commands=COMMANDS) -> str:
    """The issue's table: per command, how many files ended in each outcome."""
    counts = {c: collections.Counter() for c in commands}
    for r in results:
        for x in r["results"]:
            if x["command"] in counts:
                counts[x["command"]][x["outcome"]] += 1
    head = "| command | files | " + " | ".join(OUTCOMES) + " |"
    rows = [head, "|" + "---|" * (len(OUTCOMES) + 2)]
    for c in commands:
        n = sum(counts[c].values())
        rows.append(f"| {c} | {n:,} | " + " | ".join(f"{counts[c][o]:,}" for o in OUTCOMES) + " |")
    return "\n".join(rows)


def findings(results: list[dict]) -> list[tuple[int, str, dict]]:
    return [(r["index"], r["label"], x) for r in results for x in r["results"]
            if x["outcome"] not in ("error", "ok")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--commands", default=",".join(COMMANDS))
    ap.add_argument("--n-trials", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--mem-gb", type=float, default=6.0)
    ap.add_argument("--keep", metavar="DIR", help="write each finding's case file here")
    ap.add_argument("--json", metavar="FILE", help="write all results here")
    ap.add_argument("--log", metavar="FILE", help="append each case's result here (JSON lines)")
    ap.add_argument("--table", metavar="LOG", help="only print the table of a --log file")
    args = ap.parse_args(argv)
    commands = tuple(args.commands.split(","))
    if args.table:
        res = read_log(args.table)
        print(f"{len(res):,} cases (indices {res[0]['index']}..{res[-1]['index']})\n")
        return _report(res, commands, None, args.seed)
    t0 = time.perf_counter()

    def progress(k, n):
        if k % 50 == 0 or k == n:
            print(f"  {k}/{n} cases, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    res = campaign(args.cases, seed=args.seed, start=args.start, workers=args.workers,
                   commands=commands, n_trials=args.n_trials, timeout=args.timeout,
                   mem_gb=args.mem_gb, progress=progress, log=args.log)
    print(f"{args.cases:,} generated scenarios (seed {args.seed}, cases {args.start}.."
          f"{args.start + args.cases - 1}), {time.perf_counter() - t0:.0f} s on {args.workers} "
          f"workers, {args.n_trials} trials per power/run\n")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return _report(res, commands, args.keep, args.seed)


def _report(res: list[dict], commands, keep: str | None, seed: int) -> int:
    """Print the table and every finding (writing its case file to ``keep``); 1 if any."""
    print(table(res, commands))
    found = findings(res)
    print(f"\n{len(found)} findings")
    for i, label, x in found:
        print(f"  case {i} {x['command']} {x['outcome']} ({x['seconds']:.1f} s): {label[:120]}"
              f" -> {' '.join(x['stderr'].split())[:220]}")
        if keep and i >= 0:
            Path(keep).mkdir(parents=True, exist_ok=True)
            (Path(keep) / f"case{i}.toml").write_bytes(generate(i, seed)[1])
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
