"""The products and their actions.

``Product`` declares what the rest of the emulator derives from a product: its key (endpoints
file, fault rules, call log), API version(s), the ``HostId`` of its error bodies, its package
under ``localcloud/products/``, its official SDK and its fault-injection and quota facts. The
declarations themselves are in ``localcloud/products/__init__.py`` (``PRODUCTS``), which imports
every product package explicitly.

Each emulated API action is a function registered under its ``(x-acs-version, x-acs-action)``:

    @action("alb", "2020-06-16", "GetLoadBalancerAttribute")
    def get_load_balancer_attribute(ctx: Ctx, p: Params) -> dict: ...

A handler returns the response body as a dict with exact wire names (``RequestId`` is added by
the server) or raises an ``errors.ApiError``. ``write=True`` marks mutating actions (counted as
writes in the call log; subject to ``ClientToken`` replay when ``idempotent_token=True``).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from types import ModuleType

    from .emulator import Emulator
    from .protocol import Params


@dataclass(frozen=True)
class Throttle:
    """How a product answers a call over its quota (a QPS cap or an injected ``throttle`` fault):
    the error ``code``, the HTTP ``status``, whether ``x-acs-retry-after`` is sent (the header makes
    the SDK raise ``ThrottlingException``), the ``message``; ``source`` is the public evidence, ""
    when the answer is assumed (listed in COVERAGE.md)."""

    code: str = "Throttling.User"
    status: int = 400
    retry_after: bool = True
    message: str = "Request was denied due to user flow control."
    source: str = ""


@dataclass(frozen=True)
class Quota:
    """A documented per-action rate limit: at most ``count`` calls of the actions matching
    ``action`` (a glob) per ``window_s`` seconds (a token bucket of ``count`` refilled over the
    window); ``source`` the public evidence."""

    action: str
    count: int
    window_s: float
    source: str = ""


@dataclass(frozen=True)
class Product:
    """One emulated product (see module doc)."""

    key: str                       # "alb": endpoints file, fault rules, call log
    versions: tuple[str, ...]      # API versions (x-acs-version) it answers
    host_id: str                   # HostId in its error bodies
    package: ModuleType            # localcloud.products.<key>
    sdk: str                       # the official SDK package, e.g. alibabacloud_alb20200616
    title: str                     # for COVERAGE.md
    busy_code: str = "SystemBusy"  # what a "busy" fault answers
    qps: float | None = None       # the documented per-user request quota (enforced by default)
    qps_source: str = ""           # where that quota is documented
    throttle: Throttle = Throttle()          # how it answers a throttled call
    quotas: tuple[Quota, ...] = ()           # documented per-action limits (enforced by default)
    seed_demo: Callable[[Emulator, dict[str, Any]], None] | None = None   # its part of the demo seed

    @property
    def sdk_client(self) -> str:
        return f"{self.sdk}.client"

    @property
    def sdk_models(self) -> str:
        return f"{self.sdk}.models"


@dataclass
class Ctx:
    """What a handler gets besides its parameters."""

    cloud: Emulator
    product: str
    action: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()).upper())
    access_key_id: str | None = None     # the signed request's AccessKey

    @property
    def store(self):
        return self.cloud.store

    @property
    def clock(self):
        return self.cloud.clock


@dataclass(frozen=True)
class Action:
    product: str
    version: str
    name: str
    fn: Callable[[Ctx, Params], dict[str, Any]]
    write: bool
    idempotent_token: bool


ACTIONS: dict[tuple[str, str], Action] = {}


def action(product: str, version: str, name: str, *, write: bool = False,
           idempotent_token: bool = False) -> Callable:
    """Register an action handler (see module doc)."""

    def deco(fn: Callable[[Ctx, Params], dict[str, Any]]) -> Callable:
        ACTIONS[(version, name)] = Action(product, version, name, fn, write, idempotent_token)
        return fn

    return deco


def shape(model_cls: type, body: dict[str, Any]) -> dict[str, Any]:
    """Pass a response body through the SDK's own ``…ResponseBody`` model so that wire names
    cannot drift: unknown keys are dropped (and ``tests/`` compare shapes)."""
    return model_cls().from_map(body).to_map()
