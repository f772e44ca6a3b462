"""Where the local data plane listens: the one place that picks its ports.

The data plane serves a listener on ``127.0.0.1:(ListenerPort + port_offset)``. :func:`free_offset`
picks an offset that puts every listener port the caller names on a port that is free now, from
:data:`LOW` up to just below the kernel's ephemeral range (Linux ``ip_local_port_range``). Below
that range the kernel never hands a port to an outgoing connection; a port inside it, free when
picked, can be taken by one of the process's own outgoing connections (an SDK call, a probe, a
backend connection) before the data plane binds it, and the listener then fails with "Address
already in use". Only when the ports do not fit below the range is the block placed above it.

Everything else binds port 0 and reads the port it got (the control plane, ECS backends, the DNS
server, ``albmtls serve``); only the data plane needs ports known in advance.
"""
from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

LOW = 20000                 # data-plane ports start here (well above the privileged and usual ports)
TOP = 65000                 # and stay below this
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_DEFAULT_EPHEMERAL = (32768, 60999)


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of ports for outgoing connections (Linux; its default elsewhere)."""
    try:
        lo, hi = (int(x) for x in _RANGE_FILE.read_text().split()[:2])
        return lo, hi
    except (OSError, ValueError):
        return _DEFAULT_EPHEMERAL


def is_free(port: int) -> bool:
    """True when 127.0.0.1:``port`` can be bound (TCP) now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_offset(ports: Iterable[int] = (443, 8443), *, tries: int = 200,
                rng: random.Random | None = None) -> int:
    """An offset putting every port of ``ports`` on a free local port (see module doc).
    Raises ``RuntimeError`` when none is found in ``tries`` random picks."""
    wanted = sorted({int(p) for p in ports})
    if not wanted:
        raise ValueError("no listener ports given")
    lo_port, span = wanted[0], wanted[-1] - wanted[0]
    eph_lo, eph_hi = ephemeral_range()
    low, high = LOW, eph_lo - 1 - span            # the whole block below the ephemeral range
    if high <= low:                               # does not fit: above the range instead
        low, high = max(LOW, eph_hi + 1), TOP - span
    if high <= low:
        raise RuntimeError(f"no room for a data-plane port block spanning {span} ports")
    pick = rng or random.Random()
    for _ in range(tries):
        offset = pick.randrange(low, high) - lo_port
        if all(is_free(p + offset) for p in wanted):
            return offset
    raise RuntimeError(f"no free data-plane port block in {low}-{high + span} after {tries} tries")
