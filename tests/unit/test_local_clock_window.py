"""The local cloud's clock moves only inside its window (this machine's time ± 100 years, not before
1970: ``localcloud.clock.window_problem``, one rule): ``albmtls clock set`` and ``albmtls rotate
--now`` refuse a time outside it with INVALID_INPUT, exit 2, before anything starts or moves; the
admin API refuses it (400) with the clock unchanged; a state directory whose persisted clock is
outside it starts at this machine's time instead of breaking every request (found by a bad-input
attack: 9999-12-31T23:59:59Z made every command LOCAL_CLOUD_IN_USE, even `clock reset`)."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from albmtls.app import app
from localcloud.clock import WINDOW, Clock, window_problem

runner = CliRunner()
WALL = datetime.now(UTC)
OUTSIDE = ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "1969-12-31T23:59:59Z",
           "2300-01-01T00:00:00Z"]                      # fixed ids: every xdist worker collects the same tests
SHIFTS = ["+99999999d", "-99999999d", "+36600d", "-60000d", "+1e300s"]


@pytest.mark.parametrize("when", OUTSIDE + SHIFTS)
def test_clock_set_outside_the_window_is_invalid_input_before_anything_starts(tmp_path, when):
    state = tmp_path / "st"
    r = runner.invoke(app, ["clock", "set", "--state-dir", str(state), "--json", "--", when])
    assert r.exit_code == 2, r.output
    doc = json.loads(r.stdout)
    assert doc["error"]["code"] == "INVALID_INPUT" and doc["error"]["field"] == "when", doc
    assert "window" in doc["error"]["message"] or "ISO 8601" in doc["error"]["message"], doc
    assert "Traceback" not in r.output and not state.exists()


@pytest.mark.parametrize("when", OUTSIDE)
def test_rotate_now_outside_the_window_is_invalid_input_with_no_summary(tmp_path, when):
    state = tmp_path / "st"
    r = runner.invoke(app, ["rotate", "--now", when, "--state-dir", str(state), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    assert "INVALID_INPUT" in r.stderr and ("window" in r.stderr or "ISO 8601" in r.stderr), r.output
    assert "scanned" not in r.output and "None" not in r.output and "Traceback" not in r.output
    assert not state.exists() and not (tmp_path / "out").exists()
    r = runner.invoke(app, ["rotate", "--now", when, "--state-dir", str(state), "--json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["field"] == "now", r.output


def test_the_window_edges():
    assert window_problem(WALL) is None
    assert window_problem(WALL + WINDOW - timedelta(minutes=1), WALL) is None
    assert window_problem(WALL - WINDOW + timedelta(minutes=1), WALL) is None or WALL - WINDOW < datetime(
        1970, 1, 1, tzinfo=UTC)
    assert window_problem(datetime(1970, 1, 1, tzinfo=UTC), WALL) is None
    for bad in (WALL + WINDOW + timedelta(minutes=1), datetime(1969, 12, 31, tzinfo=UTC),
                datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC)):
        assert "window" in window_problem(bad, WALL)
    assert window_problem(datetime(2027, 1, 1)) is not None          # naive: refused, not guessed


def test_the_clock_never_leaves_the_window():
    c = Clock()
    for move in (lambda: c.set(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
                 lambda: c.set(datetime(1, 1, 1, tzinfo=UTC)), lambda: c.advance(1e12),
                 lambda: c.set_offset(-1e12), lambda: c.advance(float("inf"))):
        with pytest.raises(ValueError, match="window"):
            move()
        assert c.offset == 0.0
    with pytest.raises(ValueError, match="window"):
        Clock(1e12)


def test_the_admin_api_refuses_it_and_a_bad_persisted_clock_starts_at_wall_time(tmp_path):
    from localcloud.emulator import Emulator
    cloud = Emulator(tmp_path / "st", seed=None)
    with pytest.raises(ValueError, match="window"):
        cloud.admin("POST", "clock", {}, {"now": "9999-12-31T23:59:59Z"})
    assert cloud.clock.offset == 0.0
    status, doc = cloud.admin("POST", "clock", {}, {"advance": 86400})
    assert status == 200 and cloud.clock.offset == 86400
    cloud.store.set_meta("clock_offset", 1e12)                         # written before there was a window
    again = Emulator(tmp_path / "st", seed=None)
    assert again.clock.offset == 0.0 and again.store.get_meta("clock_offset") == 0.0


@pytest.mark.parametrize("when", SHIFTS[:4])
def test_rotate_now_takes_a_shift_as_clock_set_does(tmp_path, when):
    """One rule for ``rotate --now`` and ``clock set`` (README: ``rotate --now +21d``; GNU ``date -d``
    is not on every machine): a shift is read as one, so a shift outside says the window."""
    r = runner.invoke(app, ["rotate", "--now", when, "--state-dir", str(tmp_path / "st"), "--json"])
    assert r.exit_code == 2, r.output
    err = json.loads(r.stdout)["error"]
    assert err["field"] == "now" and "window" in err["message"] and "ISO 8601 time such" not in err["message"], err
