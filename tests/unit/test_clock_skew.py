"""Clock skew from a cloud answer's Date header (shared.core.clock.skew_seconds) and the step
context measuring it on its first successful call."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from shared.core.clock import FixedClock, skew_seconds
from shared.core.settings import Settings
from shared.core.wait import Deadline
from shared.steps.context import StepContext

T = datetime(2026, 12, 7, 0, 50, 50, tzinfo=UTC)
DATE = "Mon, 07 Dec 2026 00:50:50 GMT"


def test_skew_from_the_lower_cased_date_header():
    assert skew_seconds({"date": DATE}, T) == 0
    assert skew_seconds({"date": DATE}, T + timedelta(seconds=90)) == 90        # we are ahead
    assert skew_seconds({"Date": DATE}, T - timedelta(minutes=20)) == -1200     # we are behind
    assert skew_seconds({}, T) is None and skew_seconds(None, T) is None
    assert skew_seconds({"date": "yesterday"}, T) is None


class _Resp:
    def __init__(self, date: str | None) -> None:
        self.headers = {"date": date} if date else {}
        self.body = None


def test_step_context_measures_once_and_warns_above_the_threshold(caplog):
    log = logging.getLogger("albmtls.test.skew")
    ctx = StepContext(step="t", settings=Settings(), clock=FixedClock(T + timedelta(minutes=3)), logger=log,
                      deadline=Deadline(5), request_id="r")
    with caplog.at_level(logging.WARNING, logger="albmtls.test.skew"):
        ctx.call("x:NoDate", lambda: _Resp(None))
        assert ctx.clock_skew_s is None
        ctx.call("x:Read", lambda: _Resp(DATE))
        ctx.call("x:Read", lambda: _Resp(DATE))
    assert ctx.clock_skew_s == 180.0
    assert [r.getMessage() for r in caplog.records] == ["clock skew with the cloud"]
