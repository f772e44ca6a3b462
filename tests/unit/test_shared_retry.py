"""The retry layer and the rate limiter, with a fake monotonic clock and an injected sleep."""
from __future__ import annotations

import threading

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from darabonba.exceptions import RetryError, UnretryableException
from darabonba.policy.retry import RetryPolicyContext

from shared.adapters.retry import STATS, Deadline, DeadlineExceeded, RateLimiter, call, limiter_for
from shared.core.errors import AlbMtlsError, Code, TransientError


class FakeTime:
    """Monotonic clock whose sleep advances it (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def flaky(errors, result="done"):
    """A callable raising each of ``errors`` in turn, then returning ``result``."""
    seq = list(errors)
    calls = []

    def fn():
        calls.append(1)
        if seq:
            raise seq.pop(0)
        return result

    fn.calls = calls
    return fn


def busy(code="IncorrectStatus.Listener"):
    return ClientException(code=code, status_code=400, request_id="R", data={"Code": code, "Message": "busy"})


def dropped():
    return UnretryableException(RetryPolicyContext(retries_attempted=0, exception=RetryError("Connection reset")))


@pytest.fixture
def t():
    return FakeTime()


def run(fn, t, seconds=60.0, **kw):
    return call("alb:Op", fn, deadline=Deadline(seconds, monotonic=t.monotonic), sleep=t.sleep,
                rng=lambda: 0.5, enabled=kw.pop("enabled", True), **kw)


@pytest.mark.parametrize("first", [
    busy("IncorrectStatus.Listener"), busy("ResourceInConfiguring.Listener"), busy("IncorrectStatus.LoadBalancer"),
    busy("IncorrectBusinessStatus.LoadBalancer"), busy("IncorrectStatus.ServerGroup"),
    busy("ResourceInUse.ServerGroup"),
    busy("SystemBusy"), busy("ServiceUnavailable"), busy("IdempotenceProcessing"), busy("LastOperationNotFinished"),
    busy("Throttling.User"), ServerException(code="InternalError", status_code=500),
    ThrottlingException(code="Throttling", status_code=503, retry_after=100), dropped(),
])
def test_transient_errors_are_retried(first, t):
    fn = flaky([first, first])
    assert run(fn, t) == "done"
    assert len(fn.calls) == 3
    assert len(t.sleeps) == 2


@pytest.mark.parametrize(("exc", "code"), [
    (ClientException(code="ResourceNotFound.Listener", status_code=404), Code.LISTENER_NOT_FOUND),
    (ClientException(code="InvalidParameter", status_code=400), Code.CLOUD_ERROR),
    (ClientException(code="Forbidden.RAM", status_code=403), Code.PERMISSION_DENIED),
])
def test_other_errors_surface_at_once_mapped(exc, code, t):
    fn = flaky([exc])
    with pytest.raises(AlbMtlsError) as info:
        run(fn, t)
    assert info.value.code == code and not isinstance(info.value, TransientError)
    assert len(fn.calls) == 1 and t.sleeps == []
    assert info.value.__cause__ is exc


def test_bugs_propagate_unchanged(t):
    with pytest.raises(KeyError):
        run(flaky([KeyError("x")]), t)


def test_backoff_is_exponential_full_jitter_and_capped(t):
    fn = flaky([busy()] * 8)
    run(fn, t, base_delay=0.2, max_delay=1.0)
    # rng()=0.5 → half of min(cap, base*2^(n-1))
    assert t.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5, 0.5, 0.5, 0.5])


def test_jitter_bounds_with_random_rng(t):
    fn = flaky([busy()] * 6)
    call("alb:Op", fn, deadline=Deadline(60, monotonic=t.monotonic), sleep=t.sleep, enabled=True,
         base_delay=0.2, max_delay=5.0)
    for n, s in enumerate(t.sleeps, start=1):
        assert 0 <= s <= min(5.0, 0.2 * 2 ** (n - 1))


def test_retry_after_is_honoured(t):
    fn = flaky([ThrottlingException(code="Throttling.User", status_code=400, retry_after=1500)])
    run(fn, t)
    assert t.sleeps == [pytest.approx(1.5)]


def test_deadline_bounds_retries_and_raises_timeout(t):
    fn = flaky([busy()] * 1000)
    with pytest.raises(DeadlineExceeded) as info:
        run(fn, t, seconds=3.0, max_delay=1.0)
    err = info.value
    assert isinstance(err, TransientError) and err.code == Code.TIMEOUT
    assert err.details["last_code"] == Code.LISTENER_BUSY and err.details["attempts"] == len(fn.calls)
    assert sum(t.sleeps) <= 3.0  # never slept past the deadline


def test_expired_deadline_makes_no_call(t):
    fn = flaky([])
    with pytest.raises(DeadlineExceeded):
        run(fn, t, seconds=0)
    assert fn.calls == []


def test_retries_off_raises_first_transient(t, monkeypatch):
    monkeypatch.setenv("ALBMTLS_RETRIES", "off")
    fn = flaky([busy()])
    with pytest.raises(TransientError) as info:
        call("alb:Op", fn, deadline=Deadline(60, monotonic=t.monotonic), sleep=t.sleep)
    assert info.value.code == Code.LISTENER_BUSY and not isinstance(info.value, DeadlineExceeded)
    assert len(fn.calls) == 1 and t.sleeps == []


def test_stats_count_retries(t):
    STATS.reset()
    run(flaky([busy(), busy("Throttling.User")]), t)
    snap = STATS.snapshot()
    assert snap["attempts"] == 3 and snap["retries"] == 2
    assert snap["retried_codes"] == {"IncorrectStatus.Listener": 1, "Throttling.User": 1}


def test_deadline_from_context():
    class Ctx:
        def get_remaining_time_in_millis(self):
            return 10_000

    class Fn:
        timeout = 30

    class Ctx2:
        function = Fn()

    clock = FakeTime()
    assert Deadline.from_context(Ctx(), margin_ms=3000, monotonic=clock.monotonic).remaining() == pytest.approx(7.0)
    assert Deadline.from_context(Ctx2(), margin_ms=3000, monotonic=clock.monotonic).remaining() == pytest.approx(27.0)
    assert Deadline.from_context(None, default_ms=5000, margin_ms=1000, monotonic=clock.monotonic).remaining() == 4.0
    # a tiny budget still leaves something to work with
    class Tiny:
        def get_remaining_time_in_millis(self):
            return 500
    assert Deadline.from_context(Tiny(), margin_ms=3000, monotonic=clock.monotonic).remaining() == pytest.approx(0.5)
    d = Deadline(10, monotonic=clock.monotonic)
    assert d.slice(2).remaining() == 2 and d.slice(50).remaining() == 10


# -- rate limiter ---------------------------------------------------------------------------------
def test_limiter_spaces_requests(t):
    lim = RateLimiter(10, monotonic=t.monotonic, sleep=t.sleep)
    stamps = []
    for _ in range(25):
        lim.acquire()
        stamps.append(t.now)
    # 25 requests at 10/s with burst 1: first immediately, then every 0.1 s
    assert stamps[-1] - stamps[0] == pytest.approx(2.4)
    for a, b in zip(stamps, stamps[1:], strict=False):
        assert b - a == pytest.approx(0.1)
    # never more than 10 in any 1-second window
    for i, s in enumerate(stamps):
        assert sum(1 for x in stamps[i:] if x < s + 1.0 - 1e-9) <= 10


def test_limiter_refills_after_idle(t):
    lim = RateLimiter(10, burst=5, monotonic=t.monotonic, sleep=t.sleep)
    for _ in range(5):
        assert lim.acquire() == 0
    assert lim.acquire() == pytest.approx(0.1)
    t.now += 10
    assert lim.acquire() == 0


def test_limiter_wait_bounded_by_timeout(t):
    lim = RateLimiter(1, monotonic=t.monotonic, sleep=t.sleep)
    lim.acquire()
    with pytest.raises(DeadlineExceeded):
        lim.acquire(timeout=0.5)
    assert lim.acquire(timeout=1.0) == pytest.approx(1.0)  # the failed attempt took no token


def test_limiter_inside_call_respects_deadline(t):
    lim = RateLimiter(1, monotonic=t.monotonic, sleep=t.sleep)
    lim.acquire()
    with pytest.raises(DeadlineExceeded):
        run(flaky([]), t, seconds=0.5, limiter=lim)


def test_limiter_thread_safe():
    import time as _time

    lim = RateLimiter(1000)  # real clock, short waits
    n, threads = 200, 8
    stamps: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(n // threads):
            lim.acquire()
            with lock:
                stamps.append(_time.monotonic())

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    start = _time.monotonic()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    assert len(stamps) == n
    assert _time.monotonic() - start >= (n - 1) / 1000 * 0.9


def test_limiter_for_is_shared_per_product():
    assert limiter_for("pca") is limiter_for("pca")
    assert limiter_for("pca").rate == 10
    assert limiter_for("alb") is None
    assert limiter_for("pca", 5).rate == 5
