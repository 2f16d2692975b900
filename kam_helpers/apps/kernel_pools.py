"""`kam serve`'s preheated kernel pools, filled in priority order and never all at once (loaded by the Voilà
server process only, through :mod:`kam_helpers.apps.voila_main`).

Voilà 0.5.13's pool manager starts every pool kernel at once: five kernels importing pandas and Altair on two
cores made the first visit after a start wait ~30 s. Here each pool kernel first waits its turn at a
:class:`WarmupGate`: at most ``warm_slots`` kernels warm up at a time, the first kernel of each pool before
any second one, apps in ``fill_order`` (explorer, QBR page, book of business). A kernel's warm-up ends when its
notebook reached ``voila.utils.get_query_string()`` (it then holds the ``voila/query/<kernel_id>`` websocket),
or its notebook ended or its kernel died, or after ``warm_timeout`` seconds. A visit takes the pool kernel that
is furthest along; if that kernel has not started yet it starts at once, ahead of the queue. Once the first
kernel of every pool is warm, ``on_ready`` is called (`kam serve` then prints its URL).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kam_helpers.apps.page import VISIT_WAITING

Rank = tuple[int, int]  # (place in its pool: 0 for the first kernel, app's place in the fill order)

WAITING, WARMING, WARM, TAKEN, FAILED = "waiting", "warming", "warm", "taken", "failed"
POLL_SECONDS = 0.05  # how often a warming kernel is checked for its query websocket
POOLS_FULL = "Pools full"  # logged when nothing is left to warm up


@dataclass(eq=False)
class Ticket:
    """One pool kernel's place at the gate, from the moment its pool entry is made to the end of its warm-up."""

    notebook: str
    rank: Rank
    seq: int
    state: str = WAITING
    promoted: bool = False  # a visit is waiting for this kernel
    kernel_id: str = ""
    entered: float = field(default_factory=time.monotonic)
    admitted_at: float = 0.0
    admitted: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    settled: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # its warm-up is over, however

    @property
    def first_of_pool(self) -> bool:
        return self.rank[0] == 0


class WarmupGate:
    """Warm-ups one (or ``slots``) at a time, lowest rank first; a promoted ticket (a visit waits for it) is
    admitted at once and does not count against the slots.

    Pure asyncio: :meth:`enter` → ``await`` :meth:`wait` → the warm-up → :meth:`leave`. Admission runs on the
    event loop's next turn after any change, so tickets entered together (a server's first fill) are admitted by
    rank, not in the order they were entered. :meth:`hold` keeps new warm-ups back for a while (a visit is being
    served: its refill must not take the CPU from it).
    """

    def __init__(self, slots: int = 1) -> None:
        self.slots = max(1, int(slots))
        self.closed = False
        self._waiting: list[Ticket] = []
        self._running: set[Ticket] = set()
        self._seq = itertools.count()
        self._admission_due = False
        self._held_until = 0.0  # event loop time before which no waiting ticket is admitted

    def enter(self, notebook: str, rank: Rank) -> Ticket:
        """A new ticket, queued until its turn comes."""
        ticket = Ticket(notebook, rank, next(self._seq))
        self._waiting.append(ticket)
        self._schedule_admission()
        return ticket

    async def wait(self, ticket: Ticket) -> None:
        """Return once ``ticket`` is admitted (or the gate is closed: check :attr:`closed`)."""
        await ticket.admitted.wait()

    def promote(self, ticket: Ticket) -> None:
        """A visit waits for this ticket's kernel: admit it now, outside the slots."""
        ticket.promoted = True
        if ticket in self._waiting:
            self._waiting.remove(ticket)
            self._start(ticket)

    def rerank(self, ticket: Ticket, rank: Rank) -> None:
        """A waiting ticket's new place (its pool's kernels ahead of it were taken)."""
        ticket.rank = rank
        self._schedule_admission()

    def hold(self, seconds: float) -> None:
        """Admit no waiting ticket for ``seconds`` from now (promoted tickets still start at once)."""
        loop = event_loop()
        self._held_until = max(self._held_until, loop.time() + seconds)
        loop.call_at(self._held_until, self._schedule_admission)

    def leave(self, ticket: Ticket, state: str) -> None:
        """``ticket``'s warm-up is over (``state``: warm, taken, failed): its slot goes to the next in line."""
        if ticket in self._waiting:
            self._waiting.remove(ticket)
        self._running.discard(ticket)
        if not ticket.settled.is_set():
            ticket.state = state
            ticket.settled.set()
        ticket.admitted.set()
        self._schedule_admission()

    def close(self) -> None:
        """Let every waiting ticket through with :attr:`closed` set (the server is stopping)."""
        self.closed = True
        for ticket in self._waiting:
            ticket.admitted.set()
        self._waiting.clear()

    def queued(self) -> list[Ticket]:
        """The waiting tickets, next first."""
        return sorted(self._waiting, key=lambda t: (t.rank, t.seq))

    def warming(self) -> int:
        """How many background warm-ups hold a slot now."""
        return sum(not t.promoted for t in self._running)

    def idle(self) -> bool:
        """Nothing waits and nothing warms up."""
        return not self._waiting and not self._running

    def _schedule_admission(self) -> None:
        if not self._admission_due:
            self._admission_due = True
            event_loop().call_soon(self._admit)

    def _admit(self) -> None:
        self._admission_due = False
        if event_loop().time() < self._held_until:
            return  # hold() scheduled the next admission
        while self._waiting and not self.closed and self.warming() < self.slots:
            nxt = self.queued()[0]
            self._waiting.remove(nxt)
            self._start(nxt)

    def _start(self, ticket: Ticket) -> None:
        ticket.state = WARMING
        ticket.admitted_at = time.monotonic()
        self._running.add(ticket)
        ticket.admitted.set()


def event_loop() -> asyncio.AbstractEventLoop:
    """The running loop, or the one the server is about to run (Voilà fills its pools before it starts it)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        return asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return loop


def pool_rank(place: int, notebook: str, fill_order: Iterable[str]) -> Rank:
    """A pool entry's place in its pool and its notebook → its rank at the gate (apps not in ``fill_order``
    come after those that are).

    >>> pool_rank(1, "qbr.ipynb", ["account_explorer.ipynb", "qbr.ipynb"])
    (1, 1)
    """
    order = list(fill_order)
    return (place, order.index(notebook) if notebook in order else len(order))


def kam_kernel_manager_class(base: type, on_ready: Callable[[Any, list[Ticket]], None] | None = None) -> type:
    """Voilà's ``VoilaKernelManager`` class (what ``voila_kernel_manager_factory`` made) → a subclass whose pools
    fill through a :class:`WarmupGate`; ``on_ready(manager, first_tickets)`` is called once the first kernel of
    every pool has settled (warm, or failed / timed out)."""
    from traitlets import Float, Int, List, Unicode
    from voila.request_info_handler import RequestInfoSocketHandler

    class KamKernelManager(base):
        fill_order = List(Unicode(), config=True, help="Notebooks whose pools fill first, in this order.")
        warm_slots = Int(1, config=True, help="Pool kernels that warm up at the same time.")
        warm_timeout = Float(240.0, config=True, help="Seconds after which a warm-up no longer holds its slot.")
        visit_quiet = Float(4.0, config=True, help="Seconds after a visit took a kernel before a warm-up starts.")

        def __init__(self, **kwargs: Any) -> None:
            self._gate: WarmupGate | None = None
            self._tickets: dict[asyncio.Future, Ticket] = {}
            super().__init__(**kwargs)
            first = [t for t in self._tickets.values() if t.first_of_pool]
            self.log.info(
                "Pools fill in this order, %d kernel(s) warming at a time: %s",
                self.warm_slots,
                ", ".join(f"{t.notebook} #{t.rank[0] + 1}" for t in self.gate.queued()) or "no pools",
            )
            event_loop().create_task(self._announce_when_ready(first))

        @property
        def gate(self) -> WarmupGate:
            if self._gate is None:  # made on first use: the traits are configured by then
                self._gate = WarmupGate(self.warm_slots)
            return self._gate

        def fill_if_needed(self, delay: float | None = None, notebook_name: str | None = None, **kwargs: Any) -> None:
            """Voilà's refill, then a ticket at the gate for each new pool entry."""
            known = set(self._pools.get(notebook_name, []))
            super().fill_if_needed(delay, notebook_name, **kwargs)
            for place, entry in enumerate(self._pools.get(notebook_name, [])):
                if entry not in known:
                    rank = pool_rank(place, str(notebook_name), self.fill_order)
                    self._tickets[entry] = self.gate.enter(str(notebook_name), rank)
                    entry.add_done_callback(self._entry_done)

        def _entry_done(self, entry: asyncio.Future) -> None:
            """A pool entry whose kernel could not start (or that the stopping server cancelled) leaves the gate."""
            if entry.cancelled() or entry.exception() is not None:
                ticket = self._tickets.pop(entry, None)
                if ticket is not None:
                    self.gate.leave(ticket, FAILED)

        async def _initialize(self, notebook_path: str, kernel_id: str | None = None, **kwargs: Any) -> Any:
            """Voilà's kernel start and notebook run for a pool entry, once the gate lets it through."""
            task = asyncio.current_task()
            ticket = self._tickets.get(task) if kernel_id is None and task is not None else None
            if ticket is None:  # a restart, or a kernel Voilà starts outside the pools
                return await super()._initialize(notebook_path, kernel_id, **kwargs)
            await self._register(notebook_path)
            await self.gate.wait(ticket)
            if self.gate.closed:
                raise RuntimeError("the server is stopping")
            if ticket.promoted:  # a visit took this entry before its kernel started
                kwargs["env"] = {**kwargs.get("env", {}), VISIT_WAITING: "1"}
            try:
                content = await super()._initialize(notebook_path, None, **kwargs)
            except Exception:
                self.gate.leave(ticket, FAILED)
                raise
            ticket.kernel_id = content["kernel_id"]
            waited = ticket.admitted_at - ticket.entered
            self.log.info(
                "Warming %s (kernel %s, place %d in its pool, after %.1f s in line)",
                notebook_path,
                ticket.kernel_id,
                ticket.rank[0] + 1,
                waited,
            )
            event_loop().create_task(self._watch(ticket, content["task"]))
            return content

        async def _register(self, notebook_path: str) -> None:
            """Voilà's page handler uses a pool only for a notebook it has data for, which it otherwise records
            when the pool's first kernel starts: record it now, so a visit that comes before then takes a pool
            entry (and starts it at once) instead of starting one more kernel next to the queued ones."""
            if notebook_path in self.notebook_data:
                return
            renderer = self._notebook_renderer_factory(notebook_path)
            await renderer.initialize()
            self.notebook_data.setdefault(
                renderer.notebook_path,
                {
                    "notebook": renderer.notebook,
                    "template": renderer.template_name,
                    "theme": renderer.theme,
                    "kernel_name": renderer.notebook.metadata.kernelspec.name,
                    "kernel_ids": set(),
                },
            )

        async def _watch(self, ticket: Ticket, render: asyncio.Future) -> None:
            """Hold the gate until the kernel waits for its request or its notebook was rendered to the end (warm),
            its kernel died or its render failed or warm_timeout passed (failed), or a visit took it (taken)."""
            deadline = time.monotonic() + self.warm_timeout
            while not ticket.settled.is_set():
                if ticket.kernel_id in RequestInfoSocketHandler._waiters:
                    state = WARM
                elif render.done():  # a notebook that does not wait for its request is warm once rendered
                    state = WARM if not render.cancelled() and render.exception() is None else FAILED
                elif ticket.kernel_id not in self or time.monotonic() > deadline:
                    state = FAILED
                else:
                    await asyncio.sleep(POLL_SECONDS)
                    continue
                self.gate.leave(ticket, state)
                self.log.info(
                    "%s %s: kernel %s after %.1f s",
                    "Warm" if state == WARM else "Not warmed",
                    ticket.notebook,
                    ticket.kernel_id,
                    time.monotonic() - ticket.admitted_at,
                )
                if self.gate.idle():
                    self.log.info("%s: every pool kernel is warm", POOLS_FULL)

        async def get_rendered_notebook(self, notebook_name: str, *args: Any, **kwargs: Any) -> Any:
            """Voilà's hand-over of a pool kernel to a visit, given the entry that is furthest along (started at
            once if it had not started yet); the entries behind it move up a place."""
            pool = self._pools.get(notebook_name, [])
            ticket = None
            if pool:
                best = min(pool, key=self._progress)
                pool.remove(best)
                pool.insert(0, best)
                ticket = self._tickets.pop(best, None)
            if ticket is not None and not ticket.settled.is_set():
                self.log.info("A visit takes a %s kernel before its warm-up ended (%s)", notebook_name, ticket.state)
                self.gate.promote(ticket)
            self.gate.hold(self.visit_quiet)  # the refill below, and any queued warm-up, start after the visit
            result = await super().get_rendered_notebook(notebook_name, *args, **kwargs)
            if ticket is not None:
                self.gate.leave(ticket, TAKEN)
            for place, entry in enumerate(self._pools.get(notebook_name, [])):
                behind = self._tickets.get(entry)
                if behind is not None and behind.state == WAITING:
                    self.gate.rerank(behind, pool_rank(place, notebook_name, self.fill_order))
            return result

        def _progress(self, entry: asyncio.Future) -> tuple[int, float]:
            """A pool entry → how far along it is, smaller first: warm, then warming (earliest start first), then
            waiting (next in line first)."""
            ticket = self._tickets.get(entry)
            if ticket is None:
                return (0, 0.0)
            order = {WARM: 0, TAKEN: 0, WARMING: 1, FAILED: 3}.get(ticket.state, 2)
            return (order, ticket.admitted_at if order == 1 else float(ticket.seq))

        async def shutdown_all(self, *args: Any, **kwargs: Any) -> None:
            """Voilà's shutdown of every kernel, queued pool entries included."""
            self.gate.close()  # queued pool entries end now instead of starting kernels
            await super().shutdown_all(*args, **kwargs)

        async def _announce_when_ready(self, first: list[Ticket]) -> None:
            """Once the first kernel of every pool settled: log their states and call ``on_ready``."""
            started = time.monotonic()
            first = sorted(first, key=lambda t: t.rank)
            for ticket in first:
                await ticket.settled.wait()
            self.log.info(
                "First kernel of every pool settled in %.1f s: %s",
                time.monotonic() - started,
                ", ".join(f"{t.notebook} {t.state}" for t in first) or "no pools",
            )
            if on_ready is not None:
                on_ready(self, first)

    return KamKernelManager
