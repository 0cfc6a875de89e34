"""Background jobs of the app: one worker process per job, progress read from a pipe, real
cancel, and a cache of finished results keyed by the scenario hash.

A job runs in its own process (forked from a ``forkserver`` that has imported the engine once),
so the web server stays responsive and *Cancel* stops the computation at once (the process is
terminated) instead of after the current chunk. The worker sends its stages and results
through a pipe (:mod:`simtrial.app.work`); a reader thread here turns them into a snapshot
the server polls.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

__all__ = ["Job", "Finished", "Cache", "context"]

_CTX: list = []


def context():
    """The multiprocessing context of the workers: ``forkserver`` preloading the engine (a
    fork of a single-threaded server, not of the multi-threaded web server), ``spawn`` where
    forkserver does not exist."""
    if not _CTX:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            ctx.set_forkserver_preload(["simtrial.app.work"])
        _CTX.append(ctx)
    return _CTX[0]


class Job:
    """A computation running in a worker process.

    ``target(*args, conn)`` sends ``("stage", text, fraction)``, result messages
    ``(kind, payload)`` and finally ``("done",)`` or ``("error", line)``. :meth:`snapshot` is a
    consistent copy of what arrived; :meth:`cancel` terminates the worker.
    """

    def __init__(self, target: Callable, args: tuple, key: str, kind: str = "design",
                 meta: dict | None = None):
        self.key, self.kind, self.meta = key, kind, dict(meta or {})
        self.started = time.perf_counter()
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"stage": "starting the worker", "fraction": 0.0,
                                       "results": {}, "error": None, "done": False,
                                       "cancelled": False, "finished": False, "version": 0,
                                       "seconds": None, "cached": False}
        ctx = context()
        recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=target, args=(*args, send), daemon=True)
        self._proc.start()
        send.close()
        self._recv = recv
        threading.Thread(target=self._read, daemon=True, name=f"simtrial-app-{kind}").start()

    def _update(self, **changes) -> None:
        with self._lock:
            self._state.update(changes)
            self._state["version"] += 1

    def _read(self) -> None:
        while True:
            try:
                msg = self._recv.recv()
            except (EOFError, OSError):
                break
            kind = msg[0]
            if kind == "stage":
                self._update(stage=msg[1], fraction=msg[2])
            elif kind == "done":
                self._update(done=True, fraction=1.0, stage="done")
                break
            elif kind == "error":
                self._update(error=msg[1], stage="stopped")
                break
            else:
                with self._lock:
                    results = dict(self._state["results"])
                results[kind] = msg[1]
                self._update(results=results)
        self._recv.close()
        self._proc.join(timeout=10)
        with self._lock:
            s = self._state
            if not (s["done"] or s["error"] or s["cancelled"]):
                s["error"] = ("internal error: the worker process stopped (exit code "
                              f"{self._proc.exitcode})")
            s["finished"] = True
            s["seconds"] = time.perf_counter() - self.started
            s["version"] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state, key=self.key, kind=self.kind, meta=self.meta)

    def cancel(self) -> None:
        """Stop the worker now (a finished job is left as it is)."""
        with self._lock:
            if self._state["finished"] or self._state["done"]:
                return
            self._state["cancelled"] = True
            self._state["stage"] = "cancelled"
            self._state["version"] += 1
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=5)
            if self._proc.is_alive():
                self._proc.kill()

    @property
    def pid(self) -> int | None:
        return self._proc.pid


class Finished:
    """A cached result presented as a finished job."""

    def __init__(self, snap: dict[str, Any]):
        self.key, self.kind = snap["key"], snap["kind"]
        self._snap = dict(snap, cached=True)

    def snapshot(self) -> dict[str, Any]:
        return dict(self._snap)

    def cancel(self) -> None:
        return None


class Cache:
    """Finished job snapshots by key (scenario hash, which covers seed and n_trials; lesson
    settings), least recently used dropped past ``size``."""

    def __init__(self, size: int = 48):
        self.size = size
        self._d: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        with self._lock:
            snap = self._d.get(key)
            if snap is not None:
                self._d.move_to_end(key)
            return snap

    def put(self, snap: dict) -> None:
        if not (snap.get("done") and snap.get("finished")):
            return
        with self._lock:
            self._d[snap["key"]] = snap
            self._d.move_to_end(snap["key"])
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def __len__(self) -> int:
        return len(self._d)
