"""Process helpers: pool workers that die with their parent, SIGTERM as an exception, pid checks.

A pool worker is a process of its own. If its parent is killed, nothing in the parent can stop
it (SIGKILL cannot be caught): it finishes its chunk, waits for more work and holds 100-200 MB for
as long as the pool's pipes stay open. So every simtrial worker runs :func:`init_worker` first,
which asks the kernel to kill it when its parent dies (``prctl(PR_SET_PDEATHSIG)`` on Linux) or,
where that is not available, watches the parent from a daemon thread. A parent that is asked to
stop (SIGTERM, Ctrl-C) stops its workers itself (:func:`stop_pool`) and unwinds like an exception
(:func:`sigterm_raises`), so the ``finally`` blocks that remove staging folders run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Iterator

__all__ = ["EXIT_TERMINATED", "Terminated", "die_with_parent", "init_worker", "stop_pool",
           "sigterm_raises", "sigterm_deferred", "sigint_redelivered", "sigint_pending",
           "sigint_handled", "pid_alive"]

EXIT_TERMINATED = 128 + 15
"""Exit code after SIGTERM (what a shell reports for a process SIGTERM killed)."""

_PR_SET_PDEATHSIG = 1           # <linux/prctl.h>


class Terminated(BaseException):
    """SIGTERM arrived inside :func:`sigterm_raises`.

    A BaseException, like KeyboardInterrupt, so ``except Exception`` (a failing design point, a
    plot) does not swallow it on the way out. One that is dropped before it leaves the block
    (Python runs signal handlers anywhere: Cython's module start-up clears an exception raised
    there, a finalizer prints and forgets it) is noticed when it is freed, and the signal is
    delivered again.
    """

    def __del__(self) -> None:
        if _Sigterm.active and _Sigterm.fired and not _Sigterm.seen:
            _Sigterm.fired = False
            _redeliver()


def _redeliver() -> None:
    t = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM))
    t.daemon = True
    t.start()


def _arm_pdeathsig() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0),
                          ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent:      # re-parented: the parent is gone
            os._exit(1)


def die_with_parent(parent: int, interval: float = 0.5) -> None:
    """Make this process exit when process ``parent`` (its parent) dies, however it dies.

    Linux: the parent-death signal (SIGKILL: no cleanup, the worker holds nothing worth saving).
    Elsewhere, or if ``prctl`` fails: a daemon thread that exits the process within ``interval``
    seconds of the parent's death. The parent's pid is passed in rather than read here because the
    parent may already be dead when a freshly started worker gets this far.
    """
    armed = _arm_pdeathsig()
    if os.getppid() != parent:
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent, interval), daemon=True,
                         name="simtrial-parent-watch").start()


def init_worker(parent: int) -> None:
    """Initializer of every simtrial pool worker (``initargs=(os.getpid(),)`` in the parent).

    Besides :func:`die_with_parent`: Ctrl-C in a terminal reaches the whole process group, so the
    workers ignore SIGINT and leave it to the parent, which stops them (no traceback per
    worker); SIGTERM gets its default action back, since a forked worker inherits the parent's
    :func:`sigterm_raises` handler and would otherwise report the signal as a task result and go on.
    Python warnings are not printed (the parent captures its own the same way, and the results'
    finite checks catch numbers that would have warned): stderr stays the parent's one line.
    """
    import warnings
    warnings.simplefilter("ignore")
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def stop_pool(executor, timeout: float = 5.0) -> None:
    """Stop a ``ProcessPoolExecutor`` now: kill its processes and release it without waiting.

    For the way out of an interrupted or failed run, where the chunks still running are not
    wanted: ``shutdown(wait=True)`` would wait for them (and run every queued one first), and
    ``shutdown(wait=False)`` leaves them running until they finish. SIGKILL, not SIGTERM: a worker
    still starting may hold the parent's SIGTERM handler.
    """
    procs = list((getattr(executor, "_processes", None) or {}).values())
    for p in procs:
        with contextlib.suppress(Exception):
            p.kill()
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + timeout
    for p in procs:             # reap them: no zombies in a process that lives on (a notebook)
        with contextlib.suppress(Exception):
            p.join(max(0.0, deadline - time.monotonic()))


class _Sigint:
    """State of :func:`sigint_redelivered` (the main thread's Ctrl-C)."""

    pending = False             # KeyboardInterrupt raised and not yet handled by the CLI


def _on_sigint(signum, frame) -> None:
    _Sigint.pending = True
    t = threading.Timer(0.1, _resend_sigint)     # in case the exception is swallowed
    t.daemon = True
    t.start()
    raise KeyboardInterrupt


def _resend_sigint() -> None:
    if _Sigint.pending:
        os.kill(os.getpid(), signal.SIGINT)


def sigint_redelivered() -> None:
    """Make a Ctrl-C that Python loses come back until the CLI handles it.

    Cython's module start-up (the first scipy or pandas extension to load) clears an exception
    raised while it runs, so a Ctrl-C landing there vanished and the command ran on. The handler
    raises KeyboardInterrupt as usual and, until :func:`sigint_handled` says it reached the CLI,
    sends SIGINT again 0.1 s later. Call it in the main thread before the heavy imports."""
    _Sigint.pending = False
    signal.signal(signal.SIGINT, _on_sigint)


def sigint_pending() -> bool:
    """True if a Ctrl-C was raised and not handled (it was swallowed on the way)."""
    return _Sigint.pending


def sigint_handled() -> None:
    """The CLI caught the KeyboardInterrupt: stop sending it again."""
    _Sigint.pending = False


class _Sigterm:
    """State of the active :func:`sigterm_raises` block (one per process: the main thread's)."""

    active = False
    fired = False               # Terminated raised (and not lost): later SIGTERMs are ignored
    seen = False                # it reached the end of the block
    deferred = 0                # depth of sigterm_deferred() blocks
    pending = False             # a SIGTERM arrived inside one


def _on_sigterm(signum, frame) -> None:
    if _Sigterm.fired:
        return
    if _Sigterm.deferred:
        _Sigterm.pending = True
        return
    _Sigterm.fired = True
    raise Terminated()


def _on_unraisable(unraisable, previous=None) -> None:
    """A Terminated raised inside a finalizer, an at-fork hook or a weakref callback is dropped
    by Python with an "Exception ignored" traceback: print nothing (it is delivered again)."""
    if isinstance(unraisable.exc_value, Terminated):
        return
    (previous or sys.__unraisablehook__)(unraisable)


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread.

    Only the first SIGTERM raises; later ones are ignored until the block is left, so the
    cleanup the first one started (stopping a pool, removing a staging folder) is not cut short.
    Python may run the handler where an exception cannot propagate (a finalizer, an at-fork hook,
    a Cython module's start-up); then the signal is delivered again (:class:`Terminated`), and
    while a pool forks its workers it waits (:func:`sigterm_deferred`). Outside the main thread
    (where Python cannot install handlers), or nested, this does nothing.
    """
    if threading.current_thread() is not threading.main_thread() or _Sigterm.active:
        yield
        return
    previous_hook = sys.unraisablehook
    _Sigterm.active, _Sigterm.fired, _Sigterm.seen, _Sigterm.pending = True, False, False, False
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    sys.unraisablehook = lambda u: _on_unraisable(u, previous_hook)
    try:
        yield
    except Terminated:
        _Sigterm.seen = True
        raise
    finally:
        # not SIG_DFL itself: a SIGTERM that arrived a moment ago but is handled only after this
        # line would find no Python handler, and Python drops it ("ignored due to race
        # condition"); _default_action ends the process as SIG_DFL would
        signal.signal(signal.SIGTERM, _default_action if old in (None, signal.SIG_DFL) else old)
        sys.unraisablehook = previous_hook
        _Sigterm.active = False


def _default_action(signum, frame) -> None:
    """What SIG_DFL does with SIGTERM: end the process by the signal (exit status -15)."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


@contextlib.contextmanager
def sigterm_deferred() -> Iterator[None]:
    """Hold a SIGTERM that arrives inside the block until its end (inside :func:`sigterm_raises`).

    For starting pool workers: an exception raised while a process forks or spawns is dropped by
    the at-fork hooks or leaves half-built multiprocessing objects that fail noisily later. The
    block is short (the fork/spawn calls), so the signal waits milliseconds.
    """
    _Sigterm.deferred += 1
    try:
        yield
    finally:
        _Sigterm.deferred -= 1
        if not _Sigterm.deferred and _Sigterm.pending and _Sigterm.active:
            _Sigterm.pending = False
            if not _Sigterm.fired:
                _Sigterm.fired = True
                raise Terminated()


def pid_alive(pid: int) -> bool:
    """True unless process ``pid`` certainly does not exist on this host.

    Where that cannot be checked safely (Windows: ``os.kill(pid, 0)`` would send CTRL_C_EVENT)
    the answer is True, so nothing of a live process is ever treated as stale.
    """
    if pid <= 0:
        return False
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:             # EPERM: it exists, another user's
        return True
    return True
