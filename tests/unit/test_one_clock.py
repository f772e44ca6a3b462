"""One clock (HELPER-RULES: time injected): every CLI command that runs a step in this process on
the local target runs it in the local cloud's time, as FC gives a function (``open_target``'s
``cloud_time``), and deployed code reads time only through ``shared.core.clock``. A command moved
ahead with ``clock set``/``rotate --now`` must not sign, link or record at this machine's time
(``resend`` sent a link already expired in the cloud, and a DingTalk signature the robot refused).

Each exception below says why it needs no cloud clock; a new one must be added here with its reason."""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: commands opening the local cloud without its clock, and why that is right
NO_CLOUD_TIME = {
    "albmtls/rotate.py": "moves the clock itself after opening; reads the offset for its trigger time",
    "albmtls/messages.py": "reads the mail/webhook receiver only, no time",
    "albmtls/serve.py": "long-running: each request runs in the cloud's time read then (_in_cloud_time)",
}

#: files that may read the machine's clock, and why
MACHINE_TIME = {
    "shared/core/clock.py": "the one clock",
    "shared/adapters/probe.py": "a throwaway foreign CA the listener must refuse whatever its dates",
    "albmtls/clock.py": "clock set/show: the offset from this machine's time is what it shows and sets",
    "albmtls/rotate.py": "--now relative to this machine, then + the local cloud's offset",
    "albmtls/drift.py": "+ the local cloud's offset (local_clock_offset)",
    "albmtls/options.py": "+ the local cloud's offset (local_banner)",
    "albmtls/httpserver.py": "the FC event's requestContext.time (metadata; the handler's clock is the cloud's)",
}


def _calls_without_cloud_time(path: Path) -> list[int]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "open_target":
            for kw in node.keywords:
                if kw.arg == "cloud_time" and not (isinstance(kw.value, ast.Constant) and kw.value.value is True):
                    out.append(node.lineno)
    return out


def test_every_command_runs_in_the_clouds_time_unless_it_says_why_not():
    found = {str(p.relative_to(REPO)): lines for p in sorted((REPO / "albmtls").rglob("*.py"))
             if (lines := _calls_without_cloud_time(p))}
    assert set(found) <= set(NO_CLOUD_TIME), {k: v for k, v in found.items() if k not in NO_CLOUD_TIME}
    for name in ("holders.py", "channels.py", "doctor/__init__.py"):   # resend, channels test, doctor
        assert f"albmtls/{name}" not in found


MACHINE_CLOCK = re.compile(r"datetime\.now\(|datetime\.utcnow\(|\btime\.time\(\)|date\.today\(")


def test_only_the_clock_reads_the_machines_time():
    found = []
    for top in ("shared", "functions", "albmtls"):
        for p in sorted((REPO / top).rglob("*.py")):
            rel = str(p.relative_to(REPO))
            if rel not in MACHINE_TIME and MACHINE_CLOCK.search(p.read_text()):
                found.append(rel)
    assert found == [], found


def test_a_notice_is_signed_at_the_callers_clock():
    import inspect

    from shared.adapters import notify
    for fn in (notify.send, notify.send_http):
        assert inspect.signature(fn).parameters["now_ms"].default is inspect.Parameter.empty
