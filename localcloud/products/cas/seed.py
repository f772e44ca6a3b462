"""The demo account's CAS part."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .models import make_server_certificate, store_certificate

if TYPE_CHECKING:  # pragma: no cover
    from ...emulator import Emulator


def seed_demo(cloud: Emulator, ids: dict[str, Any]) -> None:
    """The local server root CA and the demo server certificate (``server_cert_id``) for
    ``app.example.test`` with SANs ``app.example.test``, ``example.test``."""
    domain = ids.get("server_cert_domain", "app.example.test")
    apex = ids.get("domain", "example.test")
    cert_pem, key_pem = make_server_certificate(cloud, domain, [domain, apex])
    store_certificate(cloud, domain, cert_pem, key_pem, cert_id=int(ids["server_cert_id"]))
