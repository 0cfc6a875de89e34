"""Kill matrix (issue 13): SIGTERM and SIGKILL of a 2-worker `simtrial run` and `simtrial batch`
at 10 moments each; what is left 5 s later and after the next command on the same folder.

Target: no process of the command alive 5 s after the signal, no staging folder (or temporary
file, or batch lock) after the next command, a run folder complete with its manifest or absent,
and a batch manifest that SIGTERM never leaves at "running" (after SIGKILL the next batch reports
the run as interrupted). The moments and the commands are in ``tests/killmatrix.py``; the next
command is the same command (batch: with ``--resume``), or a cheap one with ``--cheap-next``.
Linux only (reads ``/proc``). Takes about 10-15 minutes.

    python benchmarks/signals.py [--commands run,batch] [--signals TERM,KILL] [--cheap-next]
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import killmatrix as km  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", default="run,batch")
    ap.add_argument("--signals", default="TERM,KILL", help="e.g. TERM,KILL,INT")
    ap.add_argument("--cheap-next", action="store_true",
                    help="next command: a small run / one-point batch (faster)")
    a = ap.parse_args()
    if not sys.platform.startswith("linux"):
        print("needs Linux (/proc)", file=sys.stderr)
        return 2
    commands = a.commands.split(",")
    sigs = [getattr(signal, "SIG" + s.strip().upper().removeprefix("SIG"))
            for s in a.signals.split(",")]
    head = (f"{'command':<7} {'signal':<7} {'moment':<15} {'at s':>6} {'rc':>4}  "
            f"{'alive 5 s':>9}  {'staging':>7}  {'folder':<12} {'next':>4}  {'left':>4}  "
            f"stderr (lines: last)")
    print(f"next command: {'cheap' if a.cheap_next else 'the same (batch: --resume)'}")
    print(head)
    print("-" * len(head))
    cells = []
    t0 = time.perf_counter()
    for cmd in commands:
        for sig in sigs:
            for point in km.POINTS[cmd]:
                c = km.run_cell(cmd, sig, point,
                                next_argv=km.CHEAP_NEXT[cmd] if a.cheap_next else None)
                cells.append(c)
                at = f"{c.at_s:6.2f}" if c.signalled else "  ended"
                print(f"{c.command:<7} {c.signal:<7} {c.point:<15} {at:>6} {c.rc!s:>4}  "
                      f"{len(c.alive):>9}  {len(c.staging):>7}  {c.state:<12} "
                      f"{c.next_rc!s:>4}  {len(c.left):>4}  {c.stderr_lines}: {c.stderr[:40]}", flush=True)
                for what in c.alive + c.left:
                    print(f"        {what}")
    bad = [c for c in cells if c.alive or c.left or c.next_rc != 0
           or (c.command == "run" and c.state not in ("absent", "complete"))
           or (c.command == "batch" and c.signal != "SIGKILL" and c.state == "running")]
    print(f"\n{len(cells)} cells in {time.perf_counter() - t0:.0f} s: "
          f"{sum(c.signalled for c in cells)} signalled, "
          f"{sum(bool(c.alive) for c in cells)} with processes alive after 5 s, "
          f"{sum(bool(c.left) for c in cells)} with dot-entries after the next command, "
          f"{len(bad)} failing the target")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
