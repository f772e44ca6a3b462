"""``Emulator``: the local Alibaba Cloud's control plane in one object — state (SQLite store),
clock, faults, the HTTP server that the real SDK clients talk to, and the admin API.

It knows nothing of the product (``shared/``, ``functions/``) nor of the runtime services that
make it a whole cloud (ECS backends, TLS data plane, health checker, DNS server, CloudFlow
executor): those live in ``localruntime`` and plug in through :attr:`runtime` (per-process
objects such as the fnf executor) and :attr:`admin_routes`. ``localruntime.cloud.LocalCloud``
is the composition the CLI and the tests use.

    emu = Emulator(state_dir=".albmtls", seed="demo").start()
    emu.endpoints()          # the endpoints-file document (docs/ARCHITECTURE.md, "endpoints file")
    emu.reset()              # back to the freshly seeded account (tests share one cloud this way)
    emu.stop()
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .account import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID, REGION
from .clock import Clock
from .faults import Faults
from .products import PRODUCTS
from .server import ControlPlane
from .store import Store

log = logging.getLogger("localcloud.emulator")

#: the two identifiers of a PCA CA (Settings.alb_ca_id_form)
CA_ID_FORMS = ("cert_identifier", "identifier")

AdminRoute = Callable[[str, str, dict[str, str], dict[str, Any]], tuple[int, dict[str, Any]]]


@dataclass
class Settings:
    """Knobs of the local cloud (the emulator's and its runtime services')."""

    region: str = REGION
    port_offset: int = 10000          # data plane: listener port + offset on 127.0.0.1
    alb_job_seconds: float = 1.0      # ALB async jobs: Provisioning/Configuring → Running
    health_scale: float = 1.0         # multiply health-check intervals (tests use < 1)
    flow_sleep_scale: float = 1.0     # multiply CloudFlow Wait and Retry intervals (tests use < 1)
    services: tuple[str, ...] = ("ecs", "dataplane", "health", "dns", "fnf", "http", "notify")
    #: data plane: how often a listener re-reads its PCA CA's revocations (seconds, wall clock): a
    #: revoked client certificate is refused at most this long after the revocation
    revocation_refresh_s: float = 2.0
    dns_port: int = 0                 # 0 = a free port
    # Which of a PCA CA's two identifiers ALB takes in CaCertificates (products/alb/models.py,
    # ca_certificate_exists): "cert_identifier" (the UUID; the only real-account evidence) or
    # "identifier" (the 32-hex DescribeCACertificateList Identifier). The endpoints file says which.
    alb_ca_id_form: str = "cert_identifier"
    #: ActionTrail: how long after a call its event is returned by LookupEvents (cloud time, seconds;
    #: no public page states it: products/actiontrail/models.py ASSUMPTIONS)
    actiontrail_delay_s: float = 60.0


class Emulator:
    """The control plane of the local cloud (see module doc)."""

    def __init__(self, state_dir: str | Path | None = None, *, seed: str | None = "demo",
                 port: int = 0, settings: Settings | None = None, clock: Clock | None = None,
                 faults: Faults | None = None) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.settings = settings or Settings()
        if self.settings.alb_ca_id_form not in CA_ID_FORMS:
            raise ValueError(f"alb_ca_id_form must be one of {CA_ID_FORMS}, got {self.settings.alb_ca_id_form!r}")
        self.clock = clock or Clock()
        self.faults = faults or Faults()
        if self.state_dir is not None:
            # The state holds emulated secrets and key material: owner-only.
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.state_dir, 0o700)
            self.store = Store(self.state_dir / "cloud.sqlite3")
            os.chmod(self.state_dir / "cloud.sqlite3", 0o600)
        else:
            self.store = Store(None)
        off = self.store.get_meta("clock_offset")
        if off is not None and clock is None:
            try:
                self.clock = Clock(off)
            except ValueError as exc:       # moved out of the window before it had one: back to wall time
                log.warning("the persisted clock offset is not usable (%s); the clock is at this machine's time",
                            exc)
                self.store.set_meta("clock_offset", 0.0)
        self.seed_name = seed
        from .ram import AccessKeys
        self.access_keys = AccessKeys(self.store)      # the fixed key, then those made for principals
        self.account_id = ACCOUNT_ID
        self.admin_routes: dict[str, AdminRoute] = {}
        self.runtime: dict[str, Any] = {}   # per-process objects of the runtime services (ports, servers)
        self._port = port
        self.control: ControlPlane | None = None
        self._reset_point: tuple[float, dict[str, Any], Settings] | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Emulator:
        self.control = ControlPlane(self, port=self._port)
        self.control.start()
        if self.seed_name and not self.store.get_meta("seeded"):
            self._seed()
        self._reset_point = (self.clock.offset, self.faults.spec(), dataclasses.replace(self.settings))
        return self

    def _seed(self) -> None:
        from .seed import seed
        assert self.seed_name, "a seed to plant"
        seed(self, self.seed_name)
        self.store.snapshot()

    def reset(self) -> None:
        """Back to the state right after :meth:`start`: the store as freshly seeded (the seed's ids
        and key material unchanged, no other documents, an empty call log), and the clock, faults
        and settings as they were at start. A cloud started on a state directory seeded earlier
        (no snapshot in this process) is emptied and seeded anew. ``LocalCloud.reset`` makes the
        runtime services follow."""
        if self._reset_point is None:
            raise RuntimeError("start() first")
        if self.store.has_snapshot:
            self.store.reset()
        else:
            self.store.clear()
            if self.seed_name:
                self._seed()
            else:
                self.store.snapshot()
        offset, faults, settings = self._reset_point
        self.clock.set_offset(offset)
        self.faults.reset(faults)
        for f in dataclasses.fields(settings):   # in place: the services hold this object
            setattr(self.settings, f.name, getattr(settings, f.name))

    def stop(self) -> None:
        if self.control:
            self.control.stop()
            self.control = None
        self.store.set_meta("clock_offset", self.clock.offset)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- endpoints -----------------------------------------------------------------------
    @property
    def api_endpoint(self) -> str:
        assert self.control is not None, "start() first"
        return f"{self.control.host}:{self.control.port}"

    def endpoints(self) -> dict[str, Any]:
        """The endpoints-file document: one ``host:port`` per product, the admin URL, the local
        access key, the region, and what the runtime services publish (``dns``, ports)."""
        ep = self.api_endpoint
        doc: dict[str, Any] = {
            **{p.key: ep for p in PRODUCTS},
            "admin": f"http://{ep}/_admin",
            "access_key_id": ACCESS_KEY_ID,
            "access_key_secret": ACCESS_KEY_SECRET,
            "region": self.settings.region,
            "dataplane_port_offset": self.settings.port_offset,
            "alb_ca_id_form": self.settings.alb_ca_id_form,
            "state_dir": str(self.state_dir.resolve()) if self.state_dir else None,
        }
        dns = self.runtime.get("dns_endpoint")
        if dns:
            doc["dns"] = dns
        doc.update(self.runtime.get("published") or {})   # smtp, webhooks, download_url (localruntime)
        doc.update(self.store.get_meta("seed", {}) or {})
        return doc

    def write_endpoints(self, path: str | Path) -> None:
        """Write the endpoints file atomically (readers never see half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.endpoints(), indent=2) + "\n")
        os.replace(tmp, path)

    # -- public files ----------------------------------------------------------------------
    def public(self, path: str) -> tuple[int, str, bytes]:
        """``GET`` of a public file: ``/crl/<CA Identifier>.crl`` is the sub-CA's CRL (DER), as a
        relying party downloads it from the URL in a certificate's CRL distribution point.
        Returns (HTTP status, content type, body)."""
        from cryptography.hazmat.primitives.serialization import Encoding

        from .products.pca.models import CRL_PATH, crl
        if path.startswith(CRL_PATH) and path.endswith(".crl"):
            found = crl(self, path[len(CRL_PATH):-len(".crl")])
            if found is not None:
                return 200, "application/pkix-crl", found.public_bytes(Encoding.DER)
        return 404, "text/plain", b"404 Not Found\n"

    # -- admin API -------------------------------------------------------------------------
    def admin(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Handle ``/_admin/<path>``: health, clock, faults, calls, state, and service routes."""
        head, _, rest = path.partition("/")
        if head == "health":
            return 200, {"ok": True}
        if head == "clock":
            if method == "POST":
                if "now" in body:
                    self.clock.set(datetime.fromisoformat(body["now"].replace("Z", "+00:00")))
                if "advance" in body:
                    self.clock.advance(float(body["advance"]))
                if "offset" in body:
                    self.clock.set_offset(float(body["offset"]))
                self.store.set_meta("clock_offset", self.clock.offset)
            return 200, {"now": self.clock.now().isoformat()}
        if head == "faults":
            if method == "POST":
                self.faults.configure(body)
            return 200, self.faults.describe()
        if head == "calls":
            return 200, {"calls": self.store.calls(int(query.get("since", 0)))}
        if head == "state":
            return 200, {"kinds": self.store.kinds()}
        if head == "ram":
            from .ram import admin as ram_admin
            return ram_admin(self.store, method, rest, body)
        route = self.admin_routes.get(head)
        if route is not None:
            return route(method, rest, query, body)
        return 404, {"error": f"no admin route {path!r}"}
