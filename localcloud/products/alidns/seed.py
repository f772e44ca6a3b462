"""The demo account's Alidns part."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .models import DOMAIN, add_domain, add_record, records_at

if TYPE_CHECKING:  # pragma: no cover
    from ...emulator import Emulator


def seed_demo(cloud: Emulator, ids: dict[str, Any]) -> None:
    """The demo zone: free edition, with unrelated records (``www`` A, ``@`` MX, ``legacy`` A) so that
    conflict and no-clobber rules can be exercised."""
    store = cloud.store
    name = ids.get("domain", "example.test")
    if store.get(DOMAIN, name) is None:
        add_domain(store, name, edition=ids.get("zone_edition", "mianfei"),
                   dns_servers=["dns1.hichina.com", "dns2.hichina.com"], verified=True)
    now = cloud.clock.now_ms()
    for rr, rtype, value, prio in (("www", "A", "203.0.113.10", None),
                                   ("@", "MX", f"mx.{name}", 10),
                                   ("legacy", "A", "203.0.113.20", None)):
        if not records_at(store, name, rr, type=rtype):
            add_record(store, now, name, rr, rtype, value, priority=prio)
    domain = store.get(DOMAIN, name)
    assert domain is not None  # added above
    ids["dns_domain_id"] = domain["DomainId"]
