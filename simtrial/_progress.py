"""Whether the command shows progress, and a step counter for work that is not counted in
simulated trials (model calibration).

The CLI decides once per command (:func:`enable`: stderr is a terminal and neither ``--quiet``
nor ``--json`` was given); library code asks :func:`enabled`. Trial simulations report through
the driver's one bar per command (:func:`simtrial.sim.driver.pool_session`); everything here
writes only to stderr, so stdout and every file are the same with or without it.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

__all__ = ["enable", "enabled", "steps"]

_STATE = {"on": False}


def enable(on: bool) -> None:
    """Show progress on stderr (the CLI sets this per command; off by default)."""
    _STATE["on"] = bool(on)


def enabled() -> bool:
    """True when the running command shows progress."""
    return _STATE["on"]


class _Steps:
    """Counts finished steps on a bar (or nowhere)."""

    def __init__(self, bar):
        self._bar = bar

    def step(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)


@contextlib.contextmanager
def steps(total: int, label: str) -> Iterator[_Steps]:
    """A bar of ``total`` steps named ``label`` (elapsed time and ETA) while progress is
    :func:`enabled`; a counter that shows nothing otherwise."""
    bar = None
    if _STATE["on"] and total > 0:
        from tqdm import tqdm
        bar = tqdm(total=total, desc=label, unit=" step", leave=False, mininterval=0.5,
                   dynamic_ncols=True, file=sys.stderr)
    try:
        yield _Steps(bar)
    finally:
        if bar is not None:
            bar.close()
