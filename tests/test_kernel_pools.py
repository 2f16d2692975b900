"""The warm-up gate of `kam serve`'s kernel pools (pure asyncio, no Voilà): order, slots, promotion, rerank.

The real server's pools are checked in tests/test_serve.py (a `kam serve` with its log)."""

from __future__ import annotations

import asyncio

from kam_helpers.apps.kernel_pools import FAILED, WARM, WARMING, WarmupGate, pool_rank
from kam_helpers.apps.server import APPS, FILL_ORDER


class Warmups:
    """Fake warm-ups at a gate: each records when it is admitted and ends when the test says so."""

    def __init__(self, gate: WarmupGate) -> None:
        self.gate = gate
        self.admitted: list[str] = []
        self.most_at_once = 0
        self._running = 0
        self._finish: dict[str, asyncio.Event] = {}
        self.tasks: list[asyncio.Task] = []

    def start(self, name: str, rank: tuple[int, int]):
        ticket = self.gate.enter(name, rank)
        self._finish[name] = asyncio.Event()
        self.tasks.append(asyncio.get_running_loop().create_task(self._run(name, ticket)))
        return ticket

    async def _run(self, name: str, ticket) -> None:
        await self.gate.wait(ticket)
        if self.gate.closed:
            return
        self.admitted.append(name)
        self._running += 1
        self.most_at_once = max(self.most_at_once, self._running)
        await self._finish[name].wait()
        self._running -= 1
        self.gate.leave(ticket, WARM)

    def finish(self, name: str) -> None:
        self._finish[name].set()

    async def finish_all_in_turn(self) -> None:
        """End each warm-up as soon as it is admitted, until none is left."""
        while not all(t.done() for t in self.tasks):
            for name in self.admitted:
                self.finish(name)
            await asyncio.sleep(0)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _serve_pools(gate: WarmupGate, warmups: Warmups) -> None:
    """Enter `kam serve`'s pool kernels as Voilà's first fill does: notebook by notebook, in folder order."""
    for notebook in sorted(APPS):
        for place in range(APPS[notebook]):
            warmups.start(f"{notebook} #{place + 1}", pool_rank(place, notebook, FILL_ORDER))


def test_pools_fill_first_kernels_first_in_the_fill_order_one_at_a_time() -> None:
    async def scenario() -> Warmups:
        warmups = Warmups(WarmupGate(slots=1))
        _serve_pools(warmups.gate, warmups)
        await warmups.finish_all_in_turn()
        return warmups

    warmups = asyncio.run(scenario())
    assert warmups.admitted == [
        "account_explorer.ipynb #1",
        "qbr.ipynb #1",
        "portfolio.ipynb #1",
        "account_explorer.ipynb #2",
        "qbr.ipynb #2",
    ]
    assert warmups.most_at_once == 1


def test_never_more_warm_ups_than_slots() -> None:
    async def scenario() -> Warmups:
        warmups = Warmups(WarmupGate(slots=2))
        _serve_pools(warmups.gate, warmups)
        await settle()
        assert warmups.admitted == ["account_explorer.ipynb #1", "qbr.ipynb #1"]
        await warmups.finish_all_in_turn()
        return warmups

    warmups = asyncio.run(scenario())
    assert warmups.most_at_once == 2 and len(warmups.admitted) == 5


def test_a_promoted_ticket_starts_at_once_ahead_of_the_queue() -> None:
    async def scenario() -> None:
        gate = WarmupGate(slots=1)
        warmups = Warmups(gate)
        warmups.start("explorer #1", (0, 0))
        warmups.start("qbr #1", (0, 1))
        portfolio = warmups.start("portfolio #1", (0, 2))
        await settle()
        assert warmups.admitted == ["explorer #1"]
        gate.promote(portfolio)  # a visit waits for the book of business
        await settle()
        assert warmups.admitted == ["explorer #1", "portfolio #1"]  # not behind qbr #1, not after explorer #1
        assert gate.warming() == 1  # the visit's kernel does not take a background slot
        warmups.finish("portfolio #1")
        await settle()
        assert warmups.admitted == ["explorer #1", "portfolio #1"]  # qbr #1 still waits for explorer #1
        warmups.finish("explorer #1")
        await settle()
        assert warmups.admitted[-1] == "qbr #1"
        await warmups.finish_all_in_turn()

    asyncio.run(scenario())


def test_a_ticket_whose_pool_mates_were_taken_moves_up() -> None:
    async def scenario() -> None:
        gate = WarmupGate(slots=1)
        warmups = Warmups(gate)
        warmups.start("explorer #1", (0, 0))
        second = warmups.start("qbr #2", (1, 1))
        warmups.start("portfolio #1", (0, 2))
        await settle()
        gate.rerank(second, (0, 1))  # the first qbr kernel was taken by a visit: this one is now its pool's first
        warmups.finish("explorer #1")
        await settle()
        assert warmups.admitted == ["explorer #1", "qbr #2"]
        await warmups.finish_all_in_turn()

    asyncio.run(scenario())


def test_a_refill_waits_its_turn_by_rank_not_by_arrival() -> None:
    async def scenario() -> None:
        gate = WarmupGate(slots=1)
        warmups = Warmups(gate)
        warmups.start("explorer #1", (0, 0))
        warmups.start("explorer #2", (1, 0))
        await settle()
        warmups.start("qbr refill #1", (0, 1))  # entered later, but the first of its pool
        warmups.finish("explorer #1")
        await settle()
        assert warmups.admitted == ["explorer #1", "qbr refill #1"]
        await warmups.finish_all_in_turn()

    asyncio.run(scenario())


def test_leave_settles_a_ticket_once_and_close_lets_waiting_tickets_go() -> None:
    async def scenario() -> None:
        gate = WarmupGate(slots=1)
        first = gate.enter("a", (0, 0))
        waiting = gate.enter("b", (0, 1))
        await gate.wait(first)
        assert first.state == WARMING and waiting.state != WARMING
        gate.leave(first, FAILED)
        gate.leave(first, WARM)  # a second report changes nothing
        assert first.state == FAILED and first.settled.is_set()
        gate.close()
        await asyncio.wait_for(gate.wait(waiting), 1)
        assert gate.closed

    asyncio.run(scenario())


def test_a_hold_keeps_new_warm_ups_back_but_not_a_promoted_ticket() -> None:
    async def scenario() -> None:
        gate = WarmupGate(slots=1)
        warmups = Warmups(gate)
        gate.hold(0.3)  # a visit is being served
        warmups.start("explorer refill", (1, 0))
        urgent = warmups.start("qbr #1", (0, 1))
        await asyncio.sleep(0.1)
        assert warmups.admitted == []
        gate.promote(urgent)  # a visit waits for this one: the hold does not apply
        await settle()
        assert warmups.admitted == ["qbr #1"]
        await asyncio.sleep(0.4)
        assert warmups.admitted == ["qbr #1", "explorer refill"]
        await warmups.finish_all_in_turn()

    asyncio.run(scenario())
