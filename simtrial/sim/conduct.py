"""Trial conduct: sites, recruitment, screening, randomisation, cell manufacturing, infusions,
visits and withdrawal as a discrete-event simulation (SimPy), and its link to the analysis.

Time is in **days** from day 0 (the trial's calendar origin, when the first site may open); one
month is :data:`MONTH_DAYS` = 30.4375 days (365.25 / 12). Every replicate conduct is defined
as one SimPy environment with tiny processes (how it is computed: *Engines* below):

1. **Sites.** Site ``s`` opens on its activation day (``activation_months`` or evenly over
   ``ramp_months``: site k at ``k ramp / (sites - 1)`` months), then sends candidates to
   screening as a Poisson process of ``rate_per_site_month`` (``arrivals = "regular"``: one
   every ``1 / rate`` months, a deterministic check; ``rate = inf``: all at once, round-robin
   over the open sites).
2. **Screening.** A candidate fails with the population model's screen-failure probability for
   the inclusion criteria (:attr:`simtrial.model.TrialModel.screen_fail_prob`; with strata the
   mix ``1 - 1 / sum_s f_s / (1 - p_s)`` that yields the strata fractions among those
   randomised) or ``screen_fail``. Passing candidates are randomised ``screening_days`` later;
   screening stops when the design's N have passed (no over-recruitment).
3. **Randomisation.** The allocation list is a random permutation of the design's exact group
   sizes (:func:`simtrial.model.design.group_sizes`: stratum x arm), i.e. a single randomisation list
   with fixed totals; the k-th patient randomised takes entry k.
4. **Manufacturing** (MSC arms; placebo too with ``placebo_doses = true``, a blinded supply).
   At randomisation the patient's ``doses_per_patient`` doses are booked first-come first-served
   into GMP batches that start every ``batch_interval_days`` from ``batch_day`` with
   ``batch_capacity`` doses each: a dose booked on day t takes the first batch starting on or
   after t with a free slot and is released ``release_delay_days`` (manufacture + QC) after the
   batch starts. The batch calendar is a ledger, not a process, because booking is all it does
   (no events needed).
5. **Infusions.** ``infusions`` infusions, the first as soon as the dose is released, each later
   one ``interval_days`` after the previous one started (and not before its dose). An infusion
   takes an infusion chair for ``infusion_hours``, then a bed for ``observation_hours``; the
   patient keeps the chair until a bed is free (blocking), so a full ward backs up the chairs.
   Chairs and beds are per site (``infusion_unit = "site"``) or one shared unit (``"central"``);
   ``inf`` skips the resource request entirely. Placebo patients (``placebo = true``) use the
   chairs and beds but not manufacturing.
6. **Visits** at the scenario's visit months after the first infusion (after randomisation for
   patients without one), each on a day uniform within ``+/- visit_window_days`` of its target.
   Visits hold no resource, so they are computed as arrays after the event run.
7. **Withdrawal** (extra conduct dropout): exponential with hazard ``withdrawal_per_month``
   from randomisation; a withdrawn patient gets no further infusion or visit.

**Engines** (``simulate_conduct(engine=...)``). Each gives the same numbers and the same trace,
bit for bit (``tests/test_conduct_fast.py`` compares them on many configurations):

* ``"simpy"``: every replicate a SimPy environment running the processes above; the reference.
* ``"lean"``: the same process code on :class:`_LeanEnv`, a minimal event loop with SimPy's
  rule for the order of events (by day, then priority, then the order they were scheduled),
  about twice as fast.
* ``"auto"`` (default): the fast path (:func:`_fast_replicate`). Most of a replicate needs no
  events. The arrivals are running sums of each site's gaps (as SimPy adds each timeout to its
  clock), merged by day; where two of them share a day, SimPy's scheduling order is replayed
  (:func:`_arrivals_replayed`). Screening, randomisation and the batch ledger follow in
  randomisation order, which is also the order SimPy processes them in. Each patient's
  infusions are computed as if every chair and bed were free, with the same floating-point
  operations as the processes. That is exact wherever a unit never has more patients in its
  chairs (or beds) than it has chairs (or beds), counting patients who only meet at an instant
  as overlapping, so that SimPy's order of a release and a request at one instant cannot
  matter: every request is then granted when it is made. In a unit where it would overfill,
  the patients of the over-full clusters of infusions (and of the clusters their other
  infusions fall in) are run as events on the lean loop together with their unit's site
  processes, which are all the events theirs descend from, so their order is SimPy's; the
  result stands if no other patient of the unit is in a chair or bed at an instant when one of
  them is (:func:`_crowd_as_events`), and otherwise those met join the run. The one total that
  depends on the order of events, the chair time (summed as each patient moves to a bed), is
  summed by day; where terms share a day their order only matters if they differ, and every
  order the runs leave open must give the same sum, or the replicate runs on the lean loop
  (:func:`_chair_total`). The traced replicate (``trace=True``) runs on the lean loop: its
  trace is the event order. :attr:`ConductResult.paths` counts the replicates of each kind.

Random streams: replicate ``r`` draws process ``p`` from
``SeedSequence(seed, spawn_key=(0xC0D0, r, p))``: ``p = 0`` randomisation, 1 screening,
2 visit windows, 3 withdrawal, ``100 + s`` the arrivals of site ``s``. A replicate depends only
on (seed, r), so results are identical serial or parallel, and the first R replicates are the
same whatever the number of replicates. Streams are consumed in fixed-size blocks, so the
numbers do not depend on how many are used.

**Link to power** (:mod:`simtrial.sim.full`): when the scenario has ``[conduct]``, replicate trial
``i`` takes its calendar from conduct replicate ``i mod R`` (``R = min(replicates, n_trials)``;
the pool is re-simulated for each design N). The engine's patient ``i`` of group (stratum, arm)
is the group's i-th patient randomised. A visit is observed if the design engine's dropout
model keeps it (``[dropout]``: its draws are unchanged) *and* the conduct has the patient in the
study on that day (not withdrawn). The final analysis is at the last visit actually done
(LPLV). Interim look ``l`` (``[sequential]`` fraction ``t_l < 1``) happens on the day of the
``ceil(t_l C)``-th endpoint visit, where ``C`` is the number of patients of that conduct who
complete the endpoint visit (not withdrawn), i.e. when ``t_l`` of the final endpoint data is in;
it analyses every patient with the visits done by that day (MMRM uses partial follow-up;
responders count only patients whose endpoint visit is due; GSD boundaries stay at the planned
fractions). With unlimited capacity, instant recruitment, no windows and no withdrawal the conduct
path reproduces the plain path bit for bit (a test).
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._rng import generator
from ..model.design import group_sizes
from ..spec.conduct import (CONDUCT_KEYS, MANUFACTURING_KEYS, REGIMEN_KEYS,  # noqa: F401
                           ConductConfig, ManufacturingConfig, RegimenConfig, parse_conduct)
from ..stats.mc import MONTH_DAYS, median_mc_se, quantiles

__all__ = ["MONTH_DAYS", "ConductConfig", "ManufacturingConfig", "RegimenConfig",
           "ConductResult", "parse_conduct", "simulate_conduct", "conduct_design",
           "median_mc_se"]

STREAM_KEY = 0xC0D0
"""First spawn-key word of every conduct stream."""
STREAM_RANDOMISATION, STREAM_SCREENING, STREAM_VISITS, STREAM_WITHDRAWAL = 0, 1, 2, 3
STREAM_SITE0 = 100
_BLOCK = 64
ENGINES = ("auto", "lean", "simpy")
"""``simulate_conduct(engine=...)``: the fast path, the lean event loop, or SimPy."""
INF = math.inf


# ---------------------------------------------------------------------------------------------
# one replicate
# ---------------------------------------------------------------------------------------------

def _gen(seed: int, rep: int, proc: int) -> np.random.Generator:
    return generator(seed, STREAM_KEY, rep, proc)


class _Out:
    """Per-replicate output views (rows of the result arrays)."""

    __slots__ = ("site", "screen", "rand", "inf", "w_dose", "w_chair", "w_bed", "withdraw",
                 "screened", "chair_busy", "bed_busy", "doses", "batches", "first_inf",
                 "last_end")


class _BatchLedger:
    """The GMP batch ledger: FIFO, one batch every ``batch_interval_days`` from ``batch_day``,
    at most ``batch_capacity`` doses each, released ``release_delay_days`` after its day."""

    def __init__(self, man):
        self.cap = man.batch_capacity
        self.interval = man.batch_interval_days
        self.day = man.batch_day
        self.release = man.release_delay_days
        self.batch, self.in_batch = -1, 0       # current batch index, doses in it
        self.first, self.last, self.doses = math.inf, -math.inf, 0

    def book(self, t: float) -> float:
        """Book one dose on day t; return its release day."""
        w = self._slot(max(0, math.ceil((t - self.day) / self.interval - 1e-9)))
        return self.day + w * self.interval + self.release

    def book_many(self, days: np.ndarray) -> np.ndarray:
        """:meth:`book` for doses booked on ``days`` in turn (the same arithmetic, on arrays)."""
        w0 = np.maximum(0, np.ceil((days - self.day) / self.interval - 1e-9)).astype(np.int64)
        if self.cap != INF or not w0.size:
            w = np.array([self._slot(x) for x in w0.tolist()], dtype=np.int64)
        else:                           # never full: each dose in the latest batch it may take
            w = np.maximum.accumulate(np.maximum(w0, self.batch))
            last = int(w[-1])
            self.in_batch = (self.in_batch if last == self.batch else 0) + int(
                np.count_nonzero(w == last))
            self.batch = last
            self.first, self.last = min(self.first, int(w[0])), max(self.last, last)
            self.doses += w.size
        return self.day + w * self.interval + self.release

    def _slot(self, w0: int) -> int:
        """Batch of the next dose, which may go in batch ``w0`` at the earliest."""
        if w0 > self.batch:
            self.batch, self.in_batch = w0, 0
        elif self.in_batch >= self.cap:
            self.batch, self.in_batch = self.batch + 1, 0
        self.in_batch += 1
        w = self.batch
        self.first = min(self.first, w)
        self.last = max(self.last, w)
        self.doses += 1
        return w

    @property
    def batches(self) -> int:
        """Batches from the first to the last one used."""
        return (self.last - self.first + 1) if self.doses else 0


def _gap_blocks(cfg: ConductConfig, seed: int, rep: int, s: int):
    """Days between successive candidates at site ``s``, :data:`_BLOCK` at a time (an array
    each): exponential with mean ``1 / rate`` months from the site's own stream (Poisson), the
    constant ``1 / rate`` months (regular) or 0 (``rate = inf``). The one definition of the
    arrival streams, for both engines."""
    rate = cfg.rate_per_site_month
    if rate == INF or cfg.arrivals == "regular":
        block = np.full(_BLOCK, 0.0 if rate == INF else MONTH_DAYS / rate)
        while True:
            yield block
    g = _gen(seed, rep, STREAM_SITE0 + s)
    scale = MONTH_DAYS / rate
    while True:
        yield g.standard_exponential(_BLOCK) * scale


def _site_gaps(cfg: ConductConfig, seed: int, rep: int, s: int):
    """:func:`_gap_blocks` one gap (a float) at a time."""
    for block in _gap_blocks(cfg, seed, rep, s):
        yield from block.tolist()


def _withdrawal_draws(cfg: ConductConfig, seed: int, rep: int, n: int) -> np.ndarray | None:
    """Days from randomisation to withdrawal of patients k = 0 .. n-1 (None: no withdrawal)."""
    if cfg.withdrawal_per_month <= 0:
        return None
    return (_gen(seed, rep, STREAM_WITHDRAWAL).standard_exponential(n)
            * (MONTH_DAYS / cfg.withdrawal_per_month))


class _ScreenFailures:
    """Screen-failure draws in blocks of :data:`_BLOCK` uniforms from one stream."""

    def __init__(self, gen: np.random.Generator | None, p_fail: float):
        self.gen, self.p = gen, p_fail
        self.buf: list[float] = []
        self.i = 0

    def next(self) -> bool:
        if self.gen is None:
            return False
        if self.i == len(self.buf):
            self.buf = self.gen.random(_BLOCK).tolist()
            self.i = 0
        u = self.buf[self.i]
        self.i += 1
        return u < self.p

    def passes(self, n: int) -> np.ndarray:
        """Arrival positions (0-based) of the first ``n`` candidates who pass screening, from the
        same blocks that ``n``-plus calls of :meth:`next` on a fresh stream would draw."""
        if self.gen is None:
            return np.arange(n)
        found, have, base = [], 0, 0
        while have < n:
            ok = np.flatnonzero(~(self.gen.random(_BLOCK) < self.p)) + base
            found.append(ok)
            have += ok.size
            base += _BLOCK
        return np.concatenate(found)[:n]


class _LeanEnv:
    """The part of ``simpy.Environment`` that :class:`_Replicate` uses, with SimPy's event order
    and a fraction of its cost.

    An event is a heap entry ``[day, priority, id, resume]``, processed in that order: by day,
    then priority (0 = a process starting, 1 = anything else), then id, a counter of scheduling
    calls, so events of one instant run in the order they were scheduled, as SimPy's event ids
    make them. ``resume`` is the ``send`` of the process that yielded the event, or a
    :class:`_LeanResource`'s ``_serve`` (a release event: the resource then serves its queue).
    Timeouts put the clock at ``now + delay`` as SimPy does. SimPy's events that nothing waits
    for (a process ending) are not made: they only take up ids, and ids only order events.
    """

    def __init__(self):
        self.now = 0.0
        self._heap: list[list] = []
        self._ids = itertools.count()

    def timeout(self, delay: float) -> list:
        event = [self.now + delay, 1, next(self._ids), None]
        heapq.heappush(self._heap, event)
        return event

    def process(self, generator) -> None:
        heapq.heappush(self._heap, [self.now, 0, next(self._ids), generator.send])

    def run(self) -> None:
        heap, pop = self._heap, heapq.heappop
        while heap:
            event = pop(heap)
            self.now = event[0]
            resume = event[3]
            try:
                nxt = resume(None)
            except StopIteration:
                continue
            if nxt is not None:
                nxt[3] = resume                     # the process waits for the event it yields


class _LeanResource:
    """``simpy.Resource`` for :class:`_LeanEnv`: ``capacity`` units served first come first
    served. As in SimPy, a request joins the queue and the queue's head is served if a unit is
    free (once, whenever a request is made or a release event is processed); a served request
    is an event scheduled at that instant; a release frees the unit at once and schedules a
    release event."""

    def __init__(self, env: _LeanEnv, capacity: int):
        self.env, self.capacity, self.users = env, capacity, 0
        self.queue: collections.deque = collections.deque()

    def request(self) -> list:
        event = [0.0, 1, 0, None]
        self.queue.append(event)
        self._serve()
        return event

    def _serve(self, _=None) -> None:
        if self.queue and self.users < self.capacity:
            event = self.queue.popleft()
            self.users += 1
            env = self.env
            event[0], event[2] = env.now, next(env._ids)
            heapq.heappush(env._heap, event)

    def release(self, request) -> None:
        self.users -= 1
        env = self.env
        heapq.heappush(env._heap, [env.now, 1, next(env._ids), self._serve])


@dataclass
class _Part:
    """Some patients of a replicate to run as events apart from the others (the fast path's
    crowded infusion units), given what the whole replicate decided for them: ``sites`` (their
    infusion unit's sites, whose processes run), ``gaps`` (site -> iterator over its gaps
    between candidates), ``outcomes`` (site -> iterator over the outcomes of its candidates:
    patient k to run, or -1), ``releases`` (k -> release days of the doses booked), ``wdraw``
    (withdrawal draws or None). ``log`` collects ``(day, k, j)`` as patient k moves to a bed
    after infusion j, in event order."""

    sites: list[int]
    gaps: dict[int, Any]
    outcomes: dict[int, Any]
    releases: dict[int, list[float]]
    wdraw: list[float] | None
    log: list[tuple[float, int, int]] = dataclasses.field(default_factory=list)


class _Replicate:
    """One conduct replicate: an event simulation with three kinds of process.

    * :meth:`site` opens on its activation day and screens candidates (Poisson or regular
      arrivals, screen failures) until the trial has ``N`` patients;
    * :meth:`patient` waits the screening days, is randomised, books its doses in the batch
      ledger and receives its infusions (:meth:`infusion`: a chair, then an observation bed);
    * the batch ledger (:class:`_BatchLedger`) and the screening stream
      (:class:`_ScreenFailures`) are shared state, not processes.

    ``lean``: run the same processes on :class:`_LeanEnv` and :class:`_LeanResource` instead
    of SimPy (the same events in the same order, so the same numbers and trace). ``part``: run
    only some sites and their patients (:class:`_Part`).
    """

    def __init__(self, cfg: ConductConfig, seed: int, rep: int, group_seq: np.ndarray,
                 product: np.ndarray, p_fail: float, o: _Out, trace: list | None,
                 lean: bool = False, part: _Part | None = None):
        self.cfg, self.seed, self.rep, self.o, self.trace = cfg, seed, rep, o, trace
        self.part = part
        self.group_seq, self.product = group_seq, product
        self.N = group_seq.size
        if lean:
            self.env, resource = _LeanEnv(), _LeanResource
        else:
            import simpy                        # the reference engine only
            self.env, resource = simpy.Environment(), simpy.Resource
        reg = cfg.regimen
        self.I = reg.infusions
        self.interval = reg.interval_days
        self.t_inf = reg.infusion_hours / 24.0
        self.t_obs = reg.observation_hours / 24.0
        self.placebo = reg.placebo
        self.sdays = cfg.screening_days
        self.units = cfg.sites if cfg.infusion_unit == "site" else 1
        env = self.env
        self.chairs = ([resource(env, capacity=int(cfg.chairs)) for _ in range(self.units)]
                       if cfg.chairs != INF else None)
        self.beds = ([resource(env, capacity=int(cfg.beds)) for _ in range(self.units)]
                     if cfg.beds != INF else None)
        self.timed = self.chairs is not None or self.beds is not None
        self.ledger = _BatchLedger(cfg.manufacturing)
        self.per_inf = cfg.manufacturing.doses_per_patient > 1
        self.n_doses = cfg.manufacturing.doses_per_patient
        if part is not None:
            self.wdraw = part.wdraw
        else:
            wdraw = _withdrawal_draws(cfg, seed, rep, self.N)
            self.wdraw = wdraw.tolist() if wdraw is not None else None
        self.count = self.screened = 0
        self.stopped = False
        self.chair_busy = self.bed_busy = 0.0
        self.first, self.last = math.inf, -math.inf
        self.screening = _ScreenFailures(_gen(seed, rep, STREAM_SCREENING)
                                         if p_fail > 0 and part is None else None, p_fail)

    def _log(self, *event) -> None:
        if self.trace is not None:
            self.trace.append(event)

    def run(self) -> None:
        act = self.cfg.activation_days
        for s in (range(len(act)) if self.part is None else self.part.sites):
            self.env.process(self.site(s, act[s]))
        self.env.run()
        if self.part is not None:
            return
        o = self.o
        o.screened = self.screened
        o.chair_busy = self.chair_busy
        o.bed_busy = self.bed_busy
        o.doses = self.ledger.doses
        o.batches = self.ledger.batches
        o.first_inf = self.first
        o.last_end = self.last

    def site(self, s: int, act: float):
        env = self.env
        if act > 0:
            yield env.timeout(act)
        for gap in (_site_gaps(self.cfg, self.seed, self.rep, s) if self.part is None
                    else self.part.gaps[s]):
            yield env.timeout(gap)
            k = self._screen(s)
            if k is None:
                return
            if k < 0:
                self._log(env.now, -1, "screen_fail", s)
                continue
            self.o.screen[k] = env.now
            self._log(env.now, k, "screen_pass", s)
            env.process(self.patient(k, s))
            if k + 1 == self.N:
                return

    def _screen(self, s: int) -> int | None:
        """Screen site ``s``'s candidate: the patient number ``k`` it becomes, -1 (screen
        failure) or None (screening had stopped: the trial has its N)."""
        if self.part is not None:
            return next(self.part.outcomes[s], None)
        if self.stopped:
            return None
        self.screened += 1
        if self.screening.next():
            return -1
        k = self.count
        self.count = k + 1
        self.stopped = k + 1 == self.N
        return k

    def patient(self, k: int, s: int):
        env, o = self.env, self.o
        if self.sdays > 0:
            yield env.timeout(self.sdays)
        t0 = env.now
        o.rand[k] = t0
        o.site[k] = s
        W = t0 + self.wdraw[k] if self.wdraw is not None else INF
        o.withdraw[k] = W
        prod = self.product[self.group_seq[k]]
        self._log(t0, k, "randomised", int(self.group_seq[k]))
        if not (prod or self.placebo):
            return
        rel = None
        if prod:
            rel = (self.part.releases[k] if self.part is not None
                   else [self.ledger.book(t0) for _ in range(self.n_doses)])
            for r_ in rel:
                self._log(t0, k, "dose_booked", r_)
        u = s if self.units > 1 else 0
        target = t0
        for j in range(self.I):
            ready = target
            if rel is not None:
                r_ = rel[j] if self.per_inf else rel[0]
                if r_ > ready:
                    ready = r_
            if ready > env.now:
                yield env.timeout(ready - env.now)
            if env.now >= W:
                self._log(env.now, k, "withdrawn", j)
                return
            o.w_dose[k, j] = ready - target
            start = yield from self.infusion(k, j, u)
            target = start + self.interval

    def infusion(self, k: int, j: int, u: int):
        """Infusion ``j`` of patient ``k`` in unit ``u``: a chair, then an observation bed;
        returns the start day."""
        env, o = self.env, self.o
        chairs, beds = self.chairs, self.beds
        tq = env.now
        if chairs is not None:
            req = chairs[u].request()
            yield req
        start = env.now
        o.inf[k, j] = start
        o.w_chair[k, j] = start - tq
        self._log(start, k, "infusion_start", j)
        if self.timed:
            yield env.timeout(self.t_inf)
        if beds is not None:
            breq = beds[u].request()
            yield breq
            t_bed = env.now
        else:
            t_bed = start + self.t_inf
        o.w_bed[k, j] = t_bed - (start + self.t_inf)
        if chairs is not None:
            chairs[u].release(req)
        self.chair_busy += t_bed - start
        if self.part is not None:
            self.part.log.append((t_bed, k, j))
        self._log(t_bed, k, "bed_start", j)
        end = t_bed + self.t_obs
        if beds is not None:
            yield env.timeout(self.t_obs)
            beds[u].release(breq)
            self._log(end, k, "bed_end", j)
        self.bed_busy += self.t_obs
        if start < self.first:
            self.first = start
        if end > self.last:
            self.last = end
        return start


def _replicate(cfg: ConductConfig, seed: int, rep: int, group_seq: np.ndarray,
               product: np.ndarray, p_fail: float, o: _Out, trace: list | None,
               lean: bool = False) -> None:
    """Run one conduct replicate (SimPy, or :class:`_LeanEnv`), writing into ``o``'s arrays."""
    _Replicate(cfg, seed, rep, group_seq, product, p_fail, o, trace, lean).run()


# ---------------------------------------------------------------------------------------------
# one replicate, fast path: the same schedule by arithmetic, checked
# ---------------------------------------------------------------------------------------------

class _Gaps:
    """Each site's gaps between candidates in one replicate (:func:`_gap_blocks`), drawn when
    first needed and kept, for the fast path's several uses of them."""

    def __init__(self, cfg: ConductConfig, seed: int, rep: int):
        self.cfg, self.seed, self.rep = cfg, seed, rep
        self._blocks: dict[int, Any] = {}
        self._drawn: dict[int, list[np.ndarray]] = {}

    def drawn(self, s: int) -> np.ndarray:
        """The gaps of site ``s`` drawn so far (at least one block)."""
        if s not in self._drawn:
            self._blocks[s] = _gap_blocks(self.cfg, self.seed, self.rep, s)
            self._drawn[s] = [next(self._blocks[s])]
        return np.concatenate(self._drawn[s])

    def more(self, s: int) -> None:
        """Draw the next block of site ``s``."""
        self.drawn(s)
        self._drawn[s].append(next(self._blocks[s]))

    def each(self, s: int):
        """The gaps of site ``s`` one at a time, drawing more as needed."""
        i = 0
        while True:
            d = self.drawn(s)
            yield from d[i:].tolist()
            i = d.size
            self.more(s)


def _arrivals(gaps: _Gaps, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Day and site of the first ``m`` candidates, in the order the SimPy sites screen them."""
    if gaps.cfg.rate_per_site_month != INF:
        got = _arrivals_sorted(gaps, m)
        if got is not None:
            return got
    return _arrivals_replayed(gaps, m)


def _arrivals_sorted(gaps: _Gaps, m: int) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_arrivals` by sorting every site's arrival days (running sums of its gaps, as
    SimPy adds each timeout to the clock); None if two of the first ``m + 1`` share a day, where
    the order would be SimPy's scheduling order (:func:`_arrivals_replayed`)."""
    act = gaps.cfg.activation_days
    while True:
        days = [np.cumsum(np.concatenate(((a,), gaps.drawn(s))))[1:] for s, a in enumerate(act)]
        # every site has all its arrivals up to the earliest last day drawn
        horizon = min(d[-1] for d in days)
        every = np.concatenate(days)
        if np.count_nonzero(every <= horizon) > m:
            break
        for s, d in enumerate(days):
            if d[-1] == horizon:
                gaps.more(s)
    sites = np.repeat(np.arange(len(days)), [d.size for d in days])
    order = np.argsort(every, kind="stable")[:m + 1]
    first = every[order]
    if np.any(first[1:] == first[:-1]):
        return None
    return first[:m], sites[order[:m]]


def _arrivals_replayed(gaps: _Gaps, m: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_arrivals` exactly as SimPy orders them, ties included: a heap of the sites' next
    events keyed by (day, scheduling counter), the counter standing in for SimPy's event id
    (events at one instant run in the order they were scheduled). Site ``s`` schedules its
    opening (or, open on day 0, its first arrival) when it starts, in site order, and each
    next arrival when it handles the previous one."""
    each = [gaps.each(s) for s in range(gaps.cfg.sites)]
    heap: list[tuple[float, int, int, bool]] = []
    for s, a in enumerate(gaps.cfg.activation_days):
        heapq.heappush(heap, (a, s, s, True) if a > 0 else (0.0 + next(each[s]), s, s, False))
    counter = len(heap)
    days: list[float] = []
    sites: list[int] = []
    while len(days) < m:
        t, _, s, opening = heapq.heappop(heap)
        if not opening:
            days.append(t)
            sites.append(s)
        heapq.heappush(heap, (t + next(each[s]), counter, s, False))
        counter += 1
    return np.array(days), np.array(sites)


def _crowded(unit: np.ndarray, lo: np.ndarray, hi: np.ndarray, cap: float) -> np.ndarray:
    """Which closed intervals ``[lo, hi]`` open at an instant when their unit then holds more
    than ``cap`` of them. Intervals that only touch count as overlapping, so where there is
    none, however SimPy orders a release and a request at one instant, every request is granted
    when it is made."""
    out = np.zeros(lo.size, dtype=bool)
    if lo.size > cap:
        t = np.concatenate((lo, hi))
        closes = np.repeat((False, True), lo.size)       # at one instant, opens sort first
        u = np.concatenate((unit, unit))
        order = np.lexsort((closes, t, u))
        occupied = np.cumsum(np.where(closes[order], -1, 1))   # each unit starts from 0
        hit = order[occupied > cap]
        out[hit[hit < lo.size]] = True                    # the openings that overfill
    return out


def _touching(lo: np.ndarray, hi: np.ndarray, lo2: np.ndarray, hi2: np.ndarray) -> np.ndarray:
    """Which closed intervals ``[lo, hi]`` meet (overlap or touch) any of ``[lo2, hi2]``."""
    if not lo2.size:
        return np.zeros(lo.size, dtype=bool)
    order = np.argsort(lo2, kind="stable")
    reach = np.maximum.accumulate(hi2[order])           # furthest end among those opened
    n = np.searchsorted(lo2[order], hi, side="right")   # second intervals opening by hi
    return (n > 0) & (reach[np.maximum(n - 1, 0)] >= lo)


def _components(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Label of each closed interval's cluster of overlapping or touching intervals."""
    order = np.argsort(lo, kind="stable")
    reach = np.maximum.accumulate(hi[order])
    label = np.empty(lo.size, dtype=np.int64)
    label[order] = np.cumsum(np.concatenate(([0], lo[order][1:] > reach[:-1])))
    return label


def _running_sum(x, total: float = 0.0) -> float:
    """``total + x[0] + x[1] + ...`` left to right, as the processes accumulate."""
    for v in x:
        total += v
    return total


_TIE_MAX = 7
"""Largest group of chair-time terms on one day whose possible orders are tried."""


def _chair_total(when: np.ndarray, value: np.ndarray, source: np.ndarray) -> float | None:
    """The total of the chair-time terms ``value`` summed left to right in SimPy's event order,
    or None where that order cannot be settled.

    Terms are summed by day ``when``. Where several share a day, their order in SimPy's run
    only matters if they differ; terms from one event run (``source >= 0``, listed in its event
    order) keep their order, others (``source = -1``, or from different runs) could come in any
    order: every such order is tried (up to :data:`_TIE_MAX` terms) and must give the same
    partial sum, or the answer is None.
    """
    order = np.argsort(when, kind="stable")
    when, value, source = when[order], value[order], source[order]
    doubtful = {}                                      # first term -> end of an unsure group
    same = when[1:] == when[:-1]
    if same.any():
        firsts = np.flatnonzero(np.concatenate(([True], ~same)))
        ends = np.append(firsts[1:], when.size)
        group = np.cumsum(~same)[same]                 # the tie group of each pair of terms
        unequal = (value[1:] != value[:-1])[same]
        open_order = ((source[1:] != source[:-1]) | (source[1:] < 0))[same]
        for g in np.intersect1d(group[unequal], group[open_order]).tolist():
            if ends[g] - firsts[g] > _TIE_MAX:
                return None
            doubtful[int(firsts[g])] = int(ends[g])
    terms, src = value.tolist(), source.tolist()
    total, i = 0.0, 0
    for a, b in doubtful.items():
        total = _running_sum(terms[i:a], total)
        sums = set()
        for perm in itertools.permutations(range(a, b)):
            if all(src[x] < 0 or src[x] != src[y] or x < y
                   for n, x in enumerate(perm) for y in perm[n + 1:]):
                sums.add(_running_sum([terms[x] for x in perm], total))
        if len(sums) != 1:
            return None
        total, i = sums.pop(), b
    return _running_sum(terms[i:], total)


def _fast_replicate(cfg: ConductConfig, seed: int, rep: int, group_seq: np.ndarray,
                    product: np.ndarray, p_fail: float, o: _Out) -> int | None:
    """One conduct replicate, bit for bit as :class:`_Replicate` gives it, mostly by
    arithmetic; returns the number of infusion units where some patients had to run as events,
    or None if the order of the chair-time sum cannot be settled (the caller then clears the
    infusion rows and runs the whole replicate as events).

    Screening, randomisation and the batch ledger are arithmetic in any case, and so is every
    infusion as if chairs and beds were always free. In a unit where that would put more
    patients in the chairs or the beds than there are, the patients of each crowded cluster of
    infusions are run as events on :class:`_LeanEnv` (:func:`_crowd_as_events`). Every day is
    computed with the same floating-point operations as the processes (SimPy's clock after a
    timeout is ``now + delay``).
    """
    N = group_seq.size
    reg, man = cfg.regimen, cfg.manufacturing
    I, t_inf, t_obs = reg.infusions, reg.infusion_hours / 24.0, reg.observation_hours / 24.0
    chairs, beds = cfg.chairs != INF, cfg.beds != INF

    # sites and screening: the k-th pass is patient k; screening stops at the N-th
    screening = _ScreenFailures(_gen(seed, rep, STREAM_SCREENING) if p_fail > 0 else None,
                                p_fail)
    passed = screening.passes(N)
    screened = int(passed[-1]) + 1
    gaps = _Gaps(cfg, seed, rep)
    day, where = _arrivals(gaps, screened)
    screen, site = day[passed], where[passed]
    rand = screen + cfg.screening_days if cfg.screening_days > 0 else screen.copy()
    wdraw = _withdrawal_draws(cfg, seed, rep, N)
    withdraw = rand + wdraw if wdraw is not None else np.full(N, INF)

    # manufacturing: doses booked at randomisation, in randomisation order (= k)
    prod = product[group_seq]
    ledger = _BatchLedger(man)
    n_doses = man.doses_per_patient
    rel = np.full((N, n_doses), np.nan)
    rel[prod] = ledger.book_many(np.repeat(rand[prod], n_doses)).reshape(-1, n_doses)

    # infusions: each patient's clock (``now``) as in _Replicate.patient and .infusion, as if
    # every chair and bed were free when asked for
    inf, w_dose = np.full((N, I), np.nan), np.full((N, I), np.nan)
    given = prod | reg.placebo                      # still to be infused (not withdrawn)
    now, target = rand.copy(), rand.copy()
    with np.errstate(invalid="ignore"):
        for j in range(I):
            r_ = rel[:, j if n_doses > 1 else 0]
            ready = np.where(r_ > target, r_, target)   # NaN (no product): the target
            now = np.where(ready > now, now + (ready - now), now)
            given = given & ~(now >= withdraw)
            w_dose[given, j] = (ready - target)[given]
            inf[given, j] = now[given]
            start = now
            now = (start + t_inf) + t_obs if beds else (start + t_inf if chairs else start)
            target = start + reg.interval_days
    w_wait = np.where(np.isnan(inf), np.nan, 0.0)
    o.site[:], o.screen[:], o.rand[:], o.withdraw[:] = site, screen, rand, withdraw
    o.inf[:], o.w_dose[:], o.w_chair[:], o.w_bed[:] = inf, w_dose, w_wait, w_wait
    o.screened = screened
    o.doses, o.batches = ledger.doses, ledger.batches

    # crowded units: where chairs or beds would be over-full, some patients run as events
    kk, jj = np.nonzero(~np.isnan(inf))
    start = inf[kk, jj]
    t_bed = start + t_inf
    end = t_bed + t_obs
    unit_sites = ([[s] for s in range(cfg.sites)] if cfg.infusion_unit == "site"
                  else [list(range(cfg.sites))])
    unit = site[kk] if len(unit_sites) > 1 else np.zeros(kk.size, dtype=site.dtype)
    over = np.zeros(kk.size, dtype=bool)
    if chairs:
        over |= _crowded(unit, start, t_bed, cfg.chairs)
    if beds:
        over |= _crowded(unit, t_bed, end, cfg.beds)
    as_events = np.zeros(N, dtype=bool)            # patients run as events
    terms, first, last = [], INF, -INF
    if over.any():
        outcome = np.full(screened, -1)
        outcome[passed] = np.arange(N)
        ctx = (cfg, seed, rep, group_seq, product, p_fail, o, outcome, where, gaps, prod, rel,
               wdraw.tolist() if wdraw is not None else None)
        for u in np.unique(unit[over]).tolist():
            mine = unit == u
            label = _components(start[mine], end[mine])
            crowd = np.zeros(N, dtype=bool)
            crowd[kk[mine][np.isin(label, label[over[mine]])]] = True
            # and whoever shares a cluster with their other infusions, which waits may shift
            crowd[kk[mine][np.isin(label, label[crowd[kk[mine]]])]] = True
            run, crowd = _crowd_as_events(ctx, unit_sites[u], crowd, kk[mine], start[mine],
                                          end[mine])
            as_events |= crowd
            first, last = min(first, run.first), max(last, run.last)
            if run.part.log:
                w, k, j = (np.array(x) for x in zip(*run.part.log))
                terms.append((w, w - o.inf[k, j], np.full(w.size, u)))
    free = ~as_events[kk]
    if free.any():
        first, last = min(first, float(start[free].min())), max(last, float(end[free].max()))
    terms.append((t_bed[free] if (chairs or beds) else start[free], (t_bed - start)[free],
                  np.full(int(free.sum()), -1)))

    # chair time is summed as each patient moves to a bed (at once without chairs and beds)
    chair_busy = _chair_total(*(np.concatenate(x) for x in zip(*terms)))
    if chair_busy is None:
        return None
    o.chair_busy = chair_busy
    o.bed_busy = _running_sum([t_obs] * int(np.count_nonzero(~np.isnan(o.inf))))
    o.first_inf, o.last_end = first, last
    return len(terms) - 1


def _crowd_as_events(ctx: tuple, sites: list[int], crowd: np.ndarray, kk: np.ndarray,
                     start: np.ndarray, end: np.ndarray) -> tuple[_Replicate, np.ndarray]:
    """Run the patients ``crowd`` of one infusion unit (of ``sites``) as events; ``kk``,
    ``start``, ``end``: the unit's infusions on free chairs and beds (patient, first and last
    day). Returns the run and the patients run.

    The run holds the unit's site processes (up to their last crowd patient) and the crowd's
    patient processes: every event the crowd's events descend from, so SimPy would put them in
    the same order. It is the crowd's schedule in the whole replicate if no other patient of the
    unit is in a chair or bed when a crowd patient is (intervals meeting at an instant count):
    the others are then never kept waiting (each was outside every over-full cluster) and never
    delay the crowd. Otherwise the others met join the crowd, and it runs again.
    """
    cfg, seed, rep, group_seq, product, p_fail, o, outcome, where, gaps, prod, rel, wlist = ctx
    t_end = cfg.regimen.observation_hours / 24.0
    while True:
        for a in (o.inf, o.w_dose, o.w_chair, o.w_bed):
            a[crowd] = np.nan
        runs = np.where(crowd[np.maximum(outcome, 0)] & (outcome >= 0), outcome, -1)
        outcomes = {}
        for s in sites:
            mine = runs[where == s]
            last = np.flatnonzero(mine >= 0)
            outcomes[s] = iter(mine[:last[-1] + 1].tolist() if last.size else [])
        part = _Part(sites, {s: gaps.each(s) for s in sites}, outcomes,
                     {k: rel[k].tolist() for k in np.flatnonzero(crowd & prod).tolist()}, wlist)
        run = _Replicate(cfg, seed, rep, group_seq, product, p_fail, o, None, lean=True,
                         part=part)
        run.run()
        others = ~crowd[kk]
        if part.log:
            w, k, j = (np.array(x) for x in zip(*part.log))
            met = _touching(start[others], end[others], o.inf[k, j], w + t_end)
        else:
            met = np.zeros(int(others.sum()), dtype=bool)
        if not met.any():
            return run, crowd
        crowd = crowd.copy()
        crowd[kk[others][met]] = True


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------

def _row_mean(a: np.ndarray, axis=None) -> np.ndarray:
    """Mean over finite entries along axis (NaN where none)."""
    fin = np.isfinite(a)
    n = fin.sum(axis=axis)
    s = np.where(fin, a, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


@dataclass(frozen=True)
class ConductResult:
    """Replicate conducts of one design point.

    Patients are indexed in randomisation order ``k`` (0 .. N-1). Arrays (days from day 0; NaN
    = did not happen; ``withdraw_day`` inf = never):

    ``site, group`` (R, N) int: site and design group ``stratum * (arms + 1) + arm``
    (arm 0 = control); ``screen_day, rand_day`` (R, N); ``infusion_day, wait_dose,
    wait_chair, wait_bed`` (R, N, infusions): start of each infusion and the days it waited for
    its dose (beyond its target day), a chair and a bed; ``visit_day`` (R, N, V): day of each
    scheduled visit (also for withdrawn patients); ``observed`` (R, N, V): visit done (before
    withdrawal); ``withdraw_day`` (R, N) (the day the patient would withdraw; it matters only
    before the last visit); ``screened`` (R,) candidates screened;
    ``chair_busy, bed_busy`` (R,) occupied days; ``doses, batches`` (R,) doses made and batch
    slots spanned; ``treat_first, treat_last`` (R,) first infusion start and last bed release;
    ``look_day`` (R, L) calendar day of each look. Diagnostics (not results): ``elapsed_s``
    (seconds) and ``paths``, how the replicates were computed (see the module docstring):
    ``arithmetic`` (all of it), ``mixed`` (some infusion units as events; ``event_units`` of
    them in all), ``events`` (all as events on the lean loop) and ``simpy``.
    """

    config: ConductConfig
    scenario: str
    design_point: int
    sizes: np.ndarray
    visits: tuple[int, ...]
    endpoint_visit: int
    fractions: tuple[float, ...]
    screen_fail: float
    seed: int
    site: np.ndarray
    group: np.ndarray
    screen_day: np.ndarray
    rand_day: np.ndarray
    infusion_day: np.ndarray
    wait_dose: np.ndarray
    wait_chair: np.ndarray
    wait_bed: np.ndarray
    withdraw_day: np.ndarray
    visit_day: np.ndarray
    observed: np.ndarray
    screened: np.ndarray
    chair_busy: np.ndarray
    bed_busy: np.ndarray
    doses: np.ndarray
    batches: np.ndarray
    treat_first: np.ndarray
    treat_last: np.ndarray
    look_day: np.ndarray
    elapsed_s: float = 0.0
    trace: tuple | None = None
    paths: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def replicates(self) -> int:
        return int(self.rand_day.shape[0])

    @property
    def n_patients(self) -> int:
        return int(self.rand_day.shape[1])

    @property
    def arm(self) -> np.ndarray:
        """Arm of each patient (R, N); 0 = control."""
        return self.group % self.sizes.shape[1]

    def last_randomisation(self) -> np.ndarray:
        """Day of the last randomisation, (R,)."""
        return self.rand_day.max(axis=1)

    def lplv(self) -> np.ndarray:
        """Last patient last visit: day of the last visit done, (R,)."""
        v = np.where(self.observed, self.visit_day, -np.inf).max(axis=(1, 2))
        return np.where(np.isfinite(v), v, self.last_randomisation())

    def endpoint_done(self) -> np.ndarray:
        """Day of each patient's endpoint visit, inf if withdrawn before it, (R, N)."""
        k = self.endpoint_visit
        return np.where(self.observed[..., k], self.visit_day[..., k], np.inf)

    def look_counts(self) -> dict[str, np.ndarray]:
        """Per look (R, L): patients randomised, with any visit done, with the endpoint visit
        done, by the look's day."""
        ld = self.look_day[:, None, :]                                 # (R, 1, L)
        done = self.observed[..., None] & (self.visit_day[..., None] <= ld[:, :, None, :])
        return {"randomised": (self.rand_day[..., None] <= ld).sum(axis=1),
                "with_data": done.any(axis=2).sum(axis=1),
                "with_endpoint": done[:, :, self.endpoint_visit].sum(axis=1)}

    def per_replicate(self) -> dict[str, np.ndarray]:
        """Scalar metrics per replicate, each (R,) (names as in :meth:`rows`)."""
        cfg = self.config
        given = np.isfinite(self.infusion_day)
        first = self.infusion_day[..., 0] - self.rand_day
        span = self.treat_last - self.treat_first
        span = np.where(np.isfinite(span) & (span > 0), span, np.nan)     # nan: no infusion
        units = cfg.sites if cfg.infusion_unit == "site" else 1
        with np.errstate(invalid="ignore", divide="ignore"):
            chair_u = (self.chair_busy / (cfg.chairs * units * span) if cfg.chairs != INF
                       else np.full(self.replicates, np.nan))
            bed_u = (self.bed_busy / (cfg.beds * units * span) if cfg.beds != INF
                     else np.full(self.replicates, np.nan))
            cap = cfg.manufacturing.batch_capacity
            man_u = (self.doses / (cap * self.batches) if cap != INF
                     else np.full(self.replicates, np.nan))
        prod = self.arm > 0
        first = np.where(prod, first, np.nan)          # MSC patients: the wait for cells
        wd = np.where(given & prod[..., None], self.wait_dose, np.nan)
        return {
            "screened": self.screened.astype(float),
            "last_randomisation_day": self.last_randomisation(),
            "lplv_day": self.lplv(),
            "first_infusion_delay_days": _row_mean(first, axis=1),
            "dose_wait_days": _row_mean(wd.reshape(self.replicates, -1), axis=1),
            "chair_wait_days": _row_mean(self.wait_chair.reshape(self.replicates, -1), axis=1),
            "bed_wait_days": _row_mean(self.wait_bed.reshape(self.replicates, -1), axis=1),
            "max_chair_wait_days": np.where(given.any(axis=(1, 2)), np.where(
                given, self.wait_chair, -np.inf).max(axis=(1, 2)), np.nan),
            "chair_utilisation": chair_u,
            "bed_utilisation": bed_u,
            "manufacturing_utilisation": man_u,
            "infusions_given": given.sum(axis=(1, 2)).astype(float),
            "withdrawn": (self.withdraw_day < self.visit_day[..., -1]).mean(axis=1),
        }

    def rows(self) -> list[dict[str, Any]]:
        """Tidy rows: ``scenario, design_point, metric, visit, estimate`` (median over
        replicates), ``q10, q90``, ``mc_se`` (Monte Carlo SE of the median,
        :func:`median_mc_se`), ``replicates``."""
        base = {"scenario": self.scenario, "design_point": self.design_point}
        out = []

        def add(metric, visit, x):
            m, q10, q90 = quantiles(x)
            out.append({**base, "metric": metric, "visit": visit, "estimate": m, "q10": q10,
                        "q90": q90, "mc_se": median_mc_se(x), "replicates": self.replicates})

        for k, v in self.per_replicate().items():
            add(k, "", v)
        lc = self.look_counts()
        for li, f in enumerate(self.fractions):
            lab = f"look {li + 1} ({f:g})"
            add("look_day", lab, self.look_day[:, li])
            add("randomised_at_look", lab, lc["randomised"][:, li])
            add("with_data_at_look", lab, lc["with_data"][:, li])
            add("with_endpoint_at_look", lab, lc["with_endpoint"][:, li])
        return out

    def to_frame(self) -> "pd.DataFrame":
        """:meth:`rows` as a DataFrame."""
        import pandas as pd
        return pd.DataFrame(self.rows())

    def enrolment_curve(self, points: int = 201) -> "pd.DataFrame":
        """Patients randomised, and with the endpoint visit done, by calendar day.

        Returns
        -------
        DataFrame
            ``day, month, randomised_median, randomised_q10, randomised_q90,
            endpoint_median, endpoint_q10, endpoint_q90`` (quantiles over replicates).
        """
        ep = np.where(self.observed[..., self.endpoint_visit],
                      self.visit_day[..., self.endpoint_visit], np.inf)
        hi = float(np.max(self.lplv())) if self.replicates else 1.0
        days = np.linspace(0.0, max(hi, 1.0), points)
        d = {"day": days, "month": days / MONTH_DAYS}
        for name, x in (("randomised", self.rand_day), ("endpoint", ep)):
            xs = np.sort(x, axis=1)
            cnt = np.stack([np.searchsorted(row, days, side="right") for row in xs])   # (R, G)
            q = np.quantile(cnt, [0.5, 0.1, 0.9], axis=0)
            d[f"{name}_median"], d[f"{name}_q10"], d[f"{name}_q90"] = q
        import pandas as pd
        return pd.DataFrame(d)

    def to_dict(self) -> dict[str, Any]:
        """Resolved conduct as plain data, for the manifest."""
        return {"config": self.config.to_toml(),
                "activation_days": list(self.config.activation_days),
                "screen_fail_prob": self.screen_fail, "replicates": self.replicates,
                "patients": self.n_patients, "month_days": MONTH_DAYS,
                "rng": f"replicate r, process p: SeedSequence(seed, spawn_key=({STREAM_KEY}, r, "
                       "p)); p = 0 randomisation, 1 screening, 2 visit windows, 3 withdrawal, "
                       "100 + s arrivals at site s",
                "link": "trial i uses conduct replicate i mod replicates"}

    def summary(self) -> str:
        """Readable multi-line summary (medians with 10-90% bands, in months)."""
        pr = self.per_replicate()
        lines = [f"conduct   {self.config.sites} sites, {self.n_patients} patients, "
                 f"{self.replicates} replicates, screen fail {self.screen_fail:.1%}"]

        def mo(x):
            m, a, b = quantiles(np.asarray(x) / MONTH_DAYS)
            return f"{m:.1f} months (10-90%: {a:.1f}-{b:.1f})"

        lines.append(f"          last randomisation {mo(pr['last_randomisation_day'])}")
        lines.append(f"          last patient last visit {mo(pr['lplv_day'])}")
        m, a, b = quantiles(pr["first_infusion_delay_days"])
        if math.isfinite(m):
            lines.append(f"          MSC randomisation to first infusion {m:.1f} days "
                         f"(10-90%: {a:.1f}-{b:.1f})")
        for key, lab in (("manufacturing_utilisation", "manufacturing"),
                         ("chair_utilisation", "chairs"), ("bed_utilisation", "beds")):
            m, a, b = quantiles(pr[key])
            if math.isfinite(m):
                lines.append(f"          {lab} utilisation {m:.2%} (10-90%: {a:.2%}-{b:.2%})")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------------

def simulate_conduct(cfg: ConductConfig, sizes, *, visits=(3, 6, 12), endpoint_month: int = 12,
                     fractions=(1.0,), screen_fail: float = 0.0, replicates: int | None = None,
                     seed: int = 0, name: str = "", design_point: int | None = None,
                     trace: bool = False, engine: str = "auto") -> ConductResult:
    """Simulate replicate conducts of a trial with the given group sizes.

    Parameters
    ----------
    cfg : ConductConfig
    sizes : array_like of int, shape (strata, arms + 1)
        Patients per group; column 0 is the control (placebo) arm.
    visits : sequence of int
        Visit months.
    endpoint_month : int
        The primary endpoint's visit (one of ``visits``); defines the information fraction.
    fractions : sequence of float
        Information fractions of the looks (the last is 1.0 = final analysis at LPLV).
    screen_fail : float
        Screen-failure probability (``cfg.screen_fail`` overrides it).
    replicates : int, optional
        Default ``cfg.replicates``.
    seed : int
    trace : bool
        Record the event trace of replicate 0: ``(day, patient k, event, detail)`` tuples
        (replicate 0 then runs as events, on the lean loop unless ``engine="simpy"``: the
        trace is their order).
    engine : {"auto", "lean", "simpy"}
        How the replicates are computed (module docstring, *Engines*): ``"auto"`` the fast path
        (arithmetic, with events only where chairs or beds fill up), ``"lean"`` every replicate
        as events on simtrial's own event loop, ``"simpy"`` every replicate on SimPy (the
        reference). The results are identical; :attr:`ConductResult.paths` says how the
        replicates were computed.

    Returns
    -------
    ConductResult
    """
    t0 = time.perf_counter()
    if engine not in ENGINES:
        raise ValueError(f"engine = {engine!r} must be one of {', '.join(ENGINES)}")
    sizes = np.atleast_2d(np.asarray(sizes, dtype=np.int64))
    R = cfg.replicates if replicates is None else int(replicates)
    N = int(sizes.sum())
    if N < 1:
        raise ValueError("sizes must contain at least one patient")
    visits = tuple(int(v) for v in visits)
    k_end = visits.index(int(endpoint_month))
    p_fail = cfg.screen_fail if cfg.screen_fail is not None else float(screen_fail)
    labels = np.repeat(np.arange(sizes.size), sizes.ravel())
    product = ((np.arange(sizes.size) % sizes.shape[1]) != 0) | cfg.manufacturing.placebo_doses
    I = cfg.regimen.infusions
    V = len(visits)
    nan = np.nan
    site = np.zeros((R, N), dtype=np.int32)
    group = np.zeros((R, N), dtype=np.int64)
    screen = np.full((R, N), nan)
    rand = np.full((R, N), nan)
    inf = np.full((R, N, I), nan)
    w_dose, w_chair, w_bed = (np.full((R, N, I), nan) for _ in range(3))
    withdraw = np.full((R, N), np.inf)
    visit_day = np.empty((R, N, V))
    scalars = {k: np.zeros(R) for k in ("screened", "chair_busy", "bed_busy", "doses",
                                        "batches", "first_inf", "last_end")}
    vdays = np.asarray(visits, dtype=float) * MONTH_DAYS
    win = cfg.visit_window_days
    tr: list | None = [] if trace else None
    paths = dict.fromkeys(("arithmetic", "mixed", "events", "simpy", "event_units"), 0)
    for r in range(R):
        seq = _gen(seed, r, STREAM_RANDOMISATION).permutation(labels)
        group[r] = seq
        o = _Out()
        o.site, o.screen, o.rand, o.inf = site[r], screen[r], rand[r], inf[r]
        o.w_dose, o.w_chair, o.w_bed, o.withdraw = w_dose[r], w_chair[r], w_bed[r], withdraw[r]
        traced = tr if r == 0 else None
        units = (_fast_replicate(cfg, seed, r, seq, product, p_fail, o)
                 if engine == "auto" and traced is None else None)
        if units is None:
            for a in (o.inf, o.w_dose, o.w_chair, o.w_bed):
                a[:] = nan
            _replicate(cfg, seed, r, seq, product, p_fail, o, traced, lean=engine != "simpy")
            paths["simpy" if engine == "simpy" else "events"] += 1
        else:
            paths["mixed" if units else "arithmetic"] += 1
            paths["event_units"] += units
        for k in scalars:
            scalars[k][r] = getattr(o, k)
        anchor = np.where(np.isnan(inf[r, :, 0]), rand[r], inf[r, :, 0])
        vd = anchor[:, None] + vdays[None, :]
        if win > 0:
            vd = vd + _gen(seed, r, STREAM_VISITS).uniform(-win, win, (N, V))
        visit_day[r] = vd
    observed = visit_day < withdraw[..., None]
    res = ConductResult(cfg, name, int(sizes[:, 0].sum() if design_point is None else design_point),
                        sizes, visits, k_end, tuple(float(f) for f in fractions), p_fail, seed,
                        site, group, screen, rand, inf, w_dose, w_chair, w_bed, withdraw,
                        visit_day, observed, scalars["screened"].astype(np.int64),
                        scalars["chair_busy"], scalars["bed_busy"], scalars["doses"],
                        scalars["batches"], scalars["first_inf"], scalars["last_end"],
                        np.zeros((R, len(fractions))), 0.0,
                        tuple(tr) if tr is not None else None)
    return dataclasses.replace(res, look_day=_look_days(res), elapsed_s=time.perf_counter() - t0,
                               paths=paths)


def _look_days(res: ConductResult) -> np.ndarray:
    """Look l: day of the ceil(t_l C)-th endpoint visit, C = endpoint visits done in the
    replicate (t_l of the final endpoint data); the final look (t = 1) is at LPLV."""
    R, N = res.rand_day.shape
    lplv = res.lplv()
    done = np.sort(res.endpoint_done(), axis=1)
    C = np.isfinite(done).sum(axis=1)
    out = np.empty((R, len(res.fractions)))
    for li, f in enumerate(res.fractions):
        if f >= 1.0:
            out[:, li] = lplv
        else:
            m = np.maximum(1, np.ceil(f * C - 1e-9).astype(np.int64))
            day = done[np.arange(R), np.minimum(m, N) - 1]
            out[:, li] = np.where(C > 0, np.minimum(day, lplv), lplv)
    return out


def conduct_design(dm, n_per_arm: int | None = None, *, replicates: int | None = None,
                   seed: int | None = None, trace: bool = False) -> ConductResult:
    """Replicate conducts of a design (:class:`simtrial.model.design.DesignModel`) with
    ``[conduct]`` at control-arm size ``n_per_arm`` (default the design N).

    The screen-failure probability comes from the population model of each stratum; the
    randomisation list holds :func:`simtrial.model.design.group_sizes`.
    """
    sc = dm.scenario
    cfg = sc.conduct
    if cfg is None:
        raise ValueError(f"scenario {sc.name!r} has no [conduct] section")
    n = sc.design.n_per_arm if n_per_arm is None else int(n_per_arm)
    sizes = group_sizes(dm, n)
    pf = np.array([m.screen_fail_prob for m in dm.models])
    fr = np.asarray(dm.fractions)
    p_fail = 1.0 - 1.0 / float(np.sum(fr / (1.0 - pf)))
    fractions = sc.sequential.fractions if sc.sequential is not None else (1.0,)
    return simulate_conduct(cfg, sizes, visits=dm.visits, endpoint_month=sc.endpoint.visit_months,
                            fractions=fractions, screen_fail=p_fail,
                            replicates=cfg.replicates if replicates is None else replicates,
                            seed=sc.seed if seed is None else seed, name=sc.name,
                            design_point=n, trace=trace)


# ---------------------------------------------------------------------------------------------
# link to the design engine
# ---------------------------------------------------------------------------------------------

@dataclass
class ChunkLink:
    """Conduct data of one engine chunk, in the engine's patient order (group-major, enrolment
    order within group): ``rep`` (T,), ``visit_day``, ``observed`` (T, P, V), ``rand_day``
    (T, P), ``look_day`` (T, L) with T = trials per chunk."""

    rep: np.ndarray
    visit_day: np.ndarray
    observed: np.ndarray
    rand_day: np.ndarray
    look_day: np.ndarray
    endpoint_visit: int
    replicates: int

    def due(self, look: int) -> np.ndarray:
        """Visits done by interim look ``look`` (T, P, V) (their day has come)."""
        return self.visit_day <= self.look_day[:, look, None, None]

    def outcomes(self, obs: np.ndarray, trials: int, look: np.ndarray | None = None
                 ) -> dict[str, np.ndarray]:
        """Per-trial calendar outcomes given the engine's final observed mask (T, P, V).

        ``conduct_duration``: day of the analysis at which the trial ends (the stopping look, or
        the last visit done); with looks, per look (trials, L): ``conduct_look_day``,
        ``conduct_look_randomised``, ``conduct_look_patients`` (any visit done),
        ``conduct_look_endpoint`` (endpoint visit done), and ``conduct_randomised_stop``.
        """
        vd = self.visit_day[:trials]
        ob = obs[:trials]
        last = np.where(ob, vd, -np.inf).max(axis=(1, 2))
        last = np.where(np.isfinite(last), last, self.rand_day[:trials].max(axis=1))
        out = {"conduct_rep": self.rep[:trials].copy()}
        if look is None:
            out["conduct_duration"] = last
            return out
        L = self.look_day.shape[1]
        ld = np.concatenate([self.look_day[:trials, :L - 1], last[:, None]], axis=1)
        done = ob[..., None] & (vd[..., None] <= ld[:, None, None, :])       # (T, P, V, L)
        rnd = (self.rand_day[:trials, :, None] <= ld[:, None, :]).sum(axis=1)
        out["conduct_look_day"] = ld
        out["conduct_look_randomised"] = rnd
        out["conduct_look_patients"] = done.any(axis=2).sum(axis=1)
        out["conduct_look_endpoint"] = done[:, :, self.endpoint_visit].sum(axis=1)
        idx = np.arange(trials)
        out["conduct_duration"] = ld[idx, look[:trials]]
        out["conduct_randomised_stop"] = rnd[idx, look[:trials]]
        return out


def link_chunk(cres: ConductResult, chunk: int, chunk_trials: int) -> ChunkLink:
    """Conduct arrays for the trials of engine chunk ``chunk``: trial i = chunk * chunk_trials
    + t uses replicate ``i mod R``; patients reordered to the engine's group-major order."""
    R = cres.replicates
    rep = (chunk * chunk_trials + np.arange(chunk_trials)) % R
    order = np.argsort(cres.group, axis=1, kind="stable")          # (R, N): engine -> k
    vd = np.take_along_axis(cres.visit_day, order[..., None], axis=1)
    ob = np.take_along_axis(cres.observed, order[..., None], axis=1)
    rd = np.take_along_axis(cres.rand_day, order, axis=1)
    return ChunkLink(rep, vd[rep], ob[rep], rd[rep], cres.look_day[rep], cres.endpoint_visit, R)
