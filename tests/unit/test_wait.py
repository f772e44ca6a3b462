"""The one bounded wait loop (``shared.core.wait.Waiter.poll``) on fake time: it stops when done,
never sleeps past its budget, always observes once, and spaces observations as documented."""
from __future__ import annotations

import pytest

from shared.core.wait import Deadline, Waiter


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        assert s >= 0
        self.sleeps.append(s)
        self.t += s


def waiter(ft: FakeTime) -> Waiter:
    return Waiter(sleep=ft.sleep, monotonic=ft.monotonic)


@pytest.mark.parametrize(("done_at", "budget", "expect_done", "observations"), [
    (1, 10.0, True, 1),      # done at once: no sleep
    (3, 10.0, True, 3),
    (100, 2.0, False, 7),    # at 0, .1, .3, .7, 1.2, 1.7 and 2.0 s (the last sleep cut to the budget)
    (100, 0.0, False, 1),    # no budget: observed once, no sleep
])
def test_poll_table(done_at, budget, expect_done, observations):
    ft = FakeTime()
    w = waiter(ft)
    seen = []

    def observe() -> int:
        seen.append(ft.t)
        return len(seen)

    got, done = w.poll(observe, lambda n: n >= done_at, w.deadline(budget), first_delay=0.1, interval=0.5)
    assert done is expect_done
    assert got == len(seen) == observations
    assert ft.t <= budget + 1e-9                        # never past the budget
    assert ft.sleeps[:4] == pytest.approx([0.1, 0.2, 0.4, 0.5][: len(ft.sleeps[:4])])


def test_slow_observations_count_towards_the_interval():
    ft = FakeTime()
    w = waiter(ft)

    def observe() -> None:
        ft.t += 0.4          # a 0.4 s round trip
        return None

    w.poll(observe, lambda _: False, w.deadline(3.0), interval=0.5)
    assert all(s == pytest.approx(0.1) for s in ft.sleeps[:-1])   # only the rest of each 0.5 s is slept


def test_deadline_slice_never_outlives_its_parent():
    ft = FakeTime()
    d = Deadline(5, monotonic=ft.monotonic)
    assert d.slice(20).remaining() == 5 and d.slice(2).remaining() == 2
    ft.t = 4.5
    assert d.slice(2).remaining() == pytest.approx(0.5)
