"""The user guide (mkdocs.yml, docs/): it builds with no warning, its pages exist, its key
reference is the generator's output, and every command it shows works.

What is proved here:

- ``python -m mkdocs build --strict`` succeeds with no WARNING or ERROR line, every page of the
  nav is built, and the built site loads nothing from the network (no ``http(s)://`` script,
  stylesheet or image);
- ``docs/scenario-keys.md`` (a nav page) equals :func:`simtrial.spec.docs.key_reference` now,
  so the key reference cannot go stale;
- every ``$ simtrial ...`` line of a fenced ``console`` block of a nav page runs and exits 0,
  in a fresh folder under pytest's ``tmp_path`` holding a copy of ``scenarios/`` and the files
  the guide tells the reader to save (``toml`` blocks whose first line is ``# file: NAME``),
  with ``--out`` folders relative to it, so nothing is written elsewhere. The quick test runs the
  blocks not marked ``<!-- slow -->`` with ``--n-trials 200`` where the command takes it; the
  slow test runs every command exactly as written and checks that each output line pasted
  under it in the guide is a line the command prints (whitespace collapsed, durations such as
  ``2.1 s`` masked, ``...`` lines skipped): the numbers quoted are those of a real run;
- every subcommand of the CLI is named on the Commands page.

``python -m tests.test_guide [PAGE.md ...]`` (from the repository root) re-runs the commands of
the guide's console blocks as written and pastes their output under them again (a block whose
output was cut with ``...`` keeps as many lines): run it when a command's output changes, and
read the diff before committing.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

import simtrial.cli
from simtrial.spec.docs import key_reference

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
QUICK_TRIALS = "200"
# subcommands whose --n-trials the quick test may lower (lesson only when it runs a lesson)
TAKES_N_TRIALS = {"run", "power", "sample-size", "batch", "lesson"}
SLOW_MARK = "<!-- slow -->"


def _nav_pages(nav) -> list[str]:
    pages: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            pages += _nav_pages(value)
        else:
            pages.append(value)
    return pages


CONFIG = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
PAGES = _nav_pages(CONFIG["nav"])


@dataclass
class Command:
    argv: list[str]                       # without the leading "simtrial"
    expected: list[str] = field(default_factory=list)   # pasted output lines
    slow: bool = False

    def __str__(self) -> str:
        return "simtrial " + shlex.join(self.argv)


@dataclass
class Page:
    name: str
    commands: list[Command]
    files: dict[str, str]                 # file name -> content the reader saves


def _blocks(text: str):
    """Fenced blocks of a page: (info string, lines, marked slow)."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        before = [x for x in lines[:i] if x.strip()]
        slow = bool(before) and before[-1].strip() == SLOW_MARK
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        assert j < len(lines), f"unclosed code block at line {i + 1}"
        yield m.group(1), lines[i + 1:j], slow
        i = j + 1


def parse_page(name: str) -> Page:
    commands: list[Command] = []
    files: dict[str, str] = {}
    for info, lines, slow in _blocks((DOCS / name).read_text()):
        if info == "toml" and lines and lines[0].startswith("# file: "):
            files[lines[0][len("# file: "):].strip()] = "\n".join(lines) + "\n"
        if info != "console":
            continue
        for line in lines:
            if line.startswith("$ "):
                argv = shlex.split(line[2:])
                assert argv[0] == "simtrial", \
                    f"{name}: a console block may only hold simtrial commands: {line!r}"
                commands.append(Command(argv[1:], slow=slow))
            else:
                assert commands, f"{name}: output before any command: {line!r}"
                commands[-1].expected.append(line)
    return Page(name, commands, files)


GUIDE = [parse_page(p) for p in PAGES if (DOCS / p).is_file()]


def _quick(argv: list[str]) -> list[str]:
    if argv[0] not in TAKES_N_TRIALS or (argv[0] == "lesson" and
                                         (len(argv) < 2 or argv[1].startswith("-"))):
        return argv
    if "--n-trials" in argv:
        i = argv.index("--n-trials")
        return argv[:i + 1] + [QUICK_TRIALS] + argv[i + 2:]
    return argv + ["--n-trials", QUICK_TRIALS]


def _env() -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    for key in ("SIMTRIAL_CACHE_DIR", "SIMTRIAL_DEBUG"):
        env.pop(key, None)
    return env


GUIDE_FILES = {k: v for p in GUIDE for k, v in p.files.items()}   # a page may use another's


def _workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(ROOT / "scenarios", work / "scenarios")
    for fname, text in GUIDE_FILES.items():
        assert "/" not in fname and not fname.startswith("."), fname
        (work / fname).write_text(text)
    return work


def _run(argv: list[str], work: Path) -> subprocess.CompletedProcess:
    for a in argv:   # every path the guide writes or reads is relative to the work folder
        assert not a.startswith("/") and ".." not in Path(a).parts, f"path outside: {a}"
    return subprocess.run([sys.executable, "-m", "simtrial", *argv], cwd=work, env=_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)


_DURATION = re.compile(r"\b\d+(\.\d+)? s\b")


def _norm(line: str) -> str:
    return _DURATION.sub("<t> s", " ".join(line.split()))


def _ids(pages):
    return [p.name for p in pages]


# -- the build ---------------------------------------------------------------------------------

def test_every_nav_page_exists_and_every_docs_page_is_in_the_nav():
    assert PAGES, "mkdocs.yml has no nav"
    missing = [p for p in PAGES if not (DOCS / p).is_file()]
    assert not missing, f"nav pages missing from docs/: {missing}"
    unlisted = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")
                      if str(p.relative_to(DOCS)) not in PAGES)
    assert not unlisted, f"pages not in the nav of mkdocs.yml: {unlisted}"


def test_key_reference_page_is_the_generator_output():
    assert "scenario-keys.md" in PAGES
    assert (DOCS / "scenario-keys.md").read_text() == key_reference(), \
        "docs/scenario-keys.md is stale: run python -m simtrial.spec.docs"


def test_guide_builds_strict_with_no_warning_and_loads_nothing_from_the_network(tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    bad = [x for x in log.splitlines() if re.search(r"\b(WARNING|ERROR)\b", x)]
    assert not bad, "\n".join(bad)
    for page in PAGES:
        built = site / ("index.html" if page == "index.md" else page[:-3] + "/index.html")
        assert built.is_file(), f"{page} was not built ({built})"
    assert (site / "report_screenshot.png").is_file()
    remote = re.compile(r"<(script|link|img)\b[^>]*\b(src|href)=\"(https?:)?//", re.I)
    for html in site.rglob("*.html"):
        hits = remote.findall(html.read_text())
        assert not hits, f"{html.relative_to(site)} loads from the network: {hits}"


def test_commands_page_names_every_subcommand():
    sub = next(a for a in simtrial.cli._build_parser()._actions
               if a.__class__.__name__ == "_SubParsersAction")
    text = (DOCS / "commands.md").read_text()
    missing = [name for name in sub.choices if f"simtrial {name}" not in text]
    assert not missing, f"docs/commands.md does not mention: {missing}"


def test_commands_table_is_the_readme_table():
    def rows(text: str) -> list[str]:     # a code span's pipe needs no backslash in mkdocs
        return [x.replace("\\|", "|") for x in text.splitlines() if x.startswith("| `simtrial ")]
    readme, guide = rows((ROOT / "README.md").read_text()), rows((DOCS / "commands.md").read_text())
    assert readme and guide == readme, "docs/commands.md: copy the README's command table again"


def test_the_guide_shows_commands_for_every_user():
    by_page = {p.name: p for p in GUIDE}
    assert {c.argv[0] for c in by_page["designer.md"].commands} >= {"validate", "power",
                                                                    "sample-size", "run"}
    assert {c.argv[0] for c in by_page["teacher.md"].commands} >= {"lesson"}
    assert any("--resume" in c.argv for c in by_page["batch.md"].commands)
    assert "my_design.toml" in by_page["designer.md"].files


def test_shipped_scenarios_quoted_whole_are_the_shipped_files():
    quoted = 0
    for page in PAGES:
        for info, lines, _ in _blocks((DOCS / page).read_text()):
            m = re.search(r'^name = "([^"]+)"$', "\n".join(lines), re.M) if info == "toml" else None
            shipped = ROOT / "scenarios" / f"{m.group(1)}.toml" if m else None
            if shipped is not None and shipped.is_file():
                assert "\n".join(lines) + "\n" == shipped.read_text(), \
                    f"{page}: the copy of {shipped.name} differs from the shipped file"
                quoted += 1
    assert quoted >= 1


# -- the commands ------------------------------------------------------------------------------

QUICK_PAGES = [p for p in GUIDE if any(not c.slow for c in p.commands)]


@pytest.mark.parametrize("page", QUICK_PAGES, ids=_ids(QUICK_PAGES))
def test_guide_commands_run(page, tmp_path):
    work = _workdir(tmp_path)
    for cmd in page.commands:
        if cmd.slow:
            continue
        argv = _quick(cmd.argv)
        proc = _run(argv, work)
        assert proc.returncode == 0, f"simtrial {shlex.join(argv)}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
    for fname, text in GUIDE_FILES.items():   # the commands read the saved files, never write them
        assert (work / fname).read_text() == text


SLOW_PAGES = [p for p in GUIDE if p.commands]


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW_PAGES, ids=_ids(SLOW_PAGES))
def test_guide_commands_print_what_the_guide_shows(page, tmp_path):
    work = _workdir(tmp_path)
    for cmd in page.commands:
        proc = _run(cmd.argv, work)
        assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
        printed = {_norm(x) for x in (proc.stdout + proc.stderr).splitlines()}
        stale = [x for x in cmd.expected if x.strip() != "..." and _norm(x) not in printed]
        assert not stale, (f"{page.name}: `{cmd}` no longer prints these lines; paste its "
                           "output again:\n" + "\n".join(stale) + "\n--- it prints:\n"
                           + proc.stdout[-3000:])


# -- re-pasting the outputs (python -m tests.test_guide) --------------------------------------

def repaste(name: str, work: Path) -> bool:
    """Run the console commands of one page in ``work`` and paste their stdout under them."""
    lines = (DOCS / name).read_text().splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        if lines[i].rstrip() != "```console":
            i += 1
            continue
        j = i + 1
        while lines[j].rstrip() != "```":
            j += 1
        block, k = lines[i + 1:j], 0
        while k < len(block):
            cmd, k = block[k], k + 1
            old = []
            while k < len(block) and not block[k].startswith("$ "):
                old.append(block[k])
                k += 1
            proc = _run(shlex.split(cmd[2:])[1:], work)
            assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stderr}"
            new = proc.stdout.rstrip("\n").splitlines() if old else []
            if old and old[-1].strip() == "...":
                new = new[:len(old) - 1] + [old[-1]]
            out += [cmd] + new
        out.append(lines[j])
        i = j + 1
    text = "\n".join(out) + "\n"
    changed = text != (DOCS / name).read_text()
    (DOCS / name).write_text(text)
    return changed


def main(argv: list[str]) -> int:
    import tempfile
    for name in argv or [p.name for p in GUIDE if p.commands]:
        with tempfile.TemporaryDirectory(prefix="simtrial-guide-") as tmp:
            changed = repaste(name, _workdir(Path(tmp)))
        print(f"{name}: {'outputs pasted again' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
