"""``simtrial app``: a local web workbench (Shiny for Python) for designers and teachers.

- **Design**: a form for the scenario (population, endpoint and visit, effect source and
  distribution, allocation, N, dropout, analysis, multiplicity, looks, target powers, trials,
  seed); every change is validated by :func:`~simtrial.scenario.parse_scenario` and its one-line
  message is shown beside the field. Live results computed in a worker process with progress and
  cancel: power at N with its MC SE and the closed form, the headline sentence, the N for each
  target, the power (and assurance) curve with 95% MC bands; finished results are cached by the
  scenario hash (which covers seed and trials). The numbers are those of
  ``simtrial power SCEN --n-per-arm N --seed S --n-trials R --json``.
- **Compare**: up to four pinned designs in one table and one overlay plot.
- **Teach**: each lesson of :mod:`simtrial.present.lessons` with its control(s); figure and text
  are recomputed together.
- **Downloads**: the scenario TOML (``simtrial run`` reproduces it exactly), results CSV, the
  HTML report (written to ``OUT/<name>/`` first, as ``simtrial run --report`` does).

It listens on 127.0.0.1 unless ``--host`` says otherwise, reads no scenario or output file
outside the folder it was started in (uploads are parsed in memory), and writes only under its
output folder.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from ..errors import SimtrialError
from .form import confine, default_scenario
from .jobs import context
from .server import build_app

__all__ = ["serve", "check_port"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_OUT = "outputs/app"


def check_port(host: str, port: int) -> None:
    """Refuse (one line) a host/port the server could not listen on, before starting it."""
    if not 1 <= int(port) <= 65535:
        raise SimtrialError(f"usage error: --port = {port} must be in [1, 65535]")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SimtrialError(f"usage error: --host = {host!r} cannot be resolved: "
                            f"{exc.strerror}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            raise SimtrialError(f"usage error: cannot listen on {host}:{port}: "
                                f"{exc.strerror}") from None


def serve(scenario: str | None = None, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          out: str = DEFAULT_OUT, root: str | Path | None = None) -> int:
    """Start the app and serve until interrupted; returns 0.

    Parameters
    ----------
    scenario : str, optional
        Scenario file inside ``root`` to open on (default ``scenarios/t1d_hba1c_12m.toml`` if
        present, else the package's copy of it).
    host, port : listening address (default 127.0.0.1:8765).
    out : str
        Output folder inside ``root`` for reports (default ``outputs/app``).
    root : path, optional
        The folder the app may read from (default: the current folder).

    Raises
    ------
    SimtrialError
        One line, before anything listens: a scenario that does not validate or lies outside
        ``root``, an output folder outside ``root``, a port that cannot be bound.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    root = Path.cwd() if root is None else Path(root)
    sc = default_scenario(root, scenario)
    out_dir = confine(out, root, "--out")
    if out_dir.exists() and not out_dir.is_dir():
        raise SimtrialError(f"usage error: --out = {out!r} exists and is not a folder")
    check_port(host, port)
    import uvicorn
    from multiprocessing import forkserver
    app = build_app(sc, out_dir)
    if context().get_start_method() == "forkserver":
        forkserver.ensure_running()      # the engine is imported once, while the page loads
    shown = f"[{host}]" if ":" in host else host
    print(f"simtrial app: http://{shown}:{port}/  (scenario {sc.name}; reports under {out}/; "
          "Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", ws_max_size=4 * 2 ** 20)
    print("stopped", file=sys.stderr)
    return 0
