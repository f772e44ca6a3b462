"""The action registry: each emulated API action is a function registered under its
``(x-acs-version, x-acs-action)``.

    @action("alb", "2020-06-16", "GetLoadBalancerAttribute")
    def get_load_balancer_attribute(ctx: Ctx, p: Params) -> dict: ...

A handler returns the response body as a dict with exact wire names (``RequestId`` is added by
the server) or raises an ``errors.ApiError``. ``write=True`` marks mutating actions (counted as
writes in the call log; subject to ``ClientToken`` replay when ``idempotent_token=True``).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from .protocol import Params

if TYPE_CHECKING:  # pragma: no cover
    from .emulator import Emulator


# API version → product key used in the endpoints file, fault rules and the call log.
PRODUCTS: dict[str, str] = {
    "2020-06-16": "alb",
    "2020-04-07": "cas",
    "2020-06-30": "pca",
    "2015-01-09": "alidns",
    "2016-01-20": "kms",
    "2019-03-15": "fnf",
}

# product → HostId in error bodies
HOSTS: dict[str, str] = {
    "alb": "alb.cn-hangzhou.aliyuncs.com",
    "cas": "cas.aliyuncs.com",
    "pca": "cas.aliyuncs.com",
    "alidns": "alidns.aliyuncs.com",
    "kms": "kms.cn-hangzhou.aliyuncs.com",
    "fnf": "cn-hangzhou.fnf.aliyuncs.com",
}


@dataclass
class Ctx:
    """What a handler gets besides its parameters."""

    cloud: "Emulator"
    product: str
    action: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()).upper())

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


PRODUCT_MODULES = ("alb", "cas", "pca", "alidns", "kms", "fnf")


def load_products() -> dict[str, object]:
    """Import every product module so that their actions register; returns them by name."""
    import importlib
    mods = {}
    for name in PRODUCT_MODULES:
        full = f"localcloud.products.{name}"
        try:
            mods[name] = importlib.import_module(full)
        except ModuleNotFoundError as exc:  # a product not written yet
            if exc.name != full:
                raise
    return mods
