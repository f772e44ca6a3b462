#!/usr/bin/env python3
"""The observed run behind ``albmtls check-deploy``'s least-privilege check, in one place.

    .venv/bin/python -m deploy.observe --state-dir .albmtls-observe     # a fresh directory
    .venv/bin/albmtls check-deploy --state-dir .albmtls-observe

On a fresh local cloud state directory it runs only what the functions do in the cloud, through
the ``albmtls`` CLI (the same flow runner, FC handlers and SDK clients):

1. ``provision -f examples/provision.json`` — the main job on a free port (CreateListener path);
2. ``provision`` again on the same listener with ``server_certificate: {}`` (the certificate is
   chosen from ``ListCertificates``), another TLS policy and one backend fewer with another weight —
   the update path of an existing listener (``UpdateListenerAttribute``) and of its server group
   (``RemoveServersFromServerGroup``, ``UpdateServerGroupServersAttribute``), every other step
   reusing what is there;
3. ``rotate --now <not_after − 5 days> --revoke-old immediately`` — the client certificate is
   due (past 2/3 of its lifetime): the scan, the rotate flow, the new PFX version
   (``PutSecretValue``) and the revocation of the replaced certificate;
4. the functions that read the whole fleet: ``albmtls-drift-check`` with its timer event (the
   listeners against their recorded desired states, ``ListSecrets``) and ``albmtls-provision-api``
   with ``POST /fleet/plan`` (``examples/fleet.yaml``, as YAML), ``GET /drift`` and ``GET /inventory``
   — invoked here as FC invokes them (the CLI's ``plan``/``drift``/``inventory`` are operator
   commands that run the same code with the operator's credentials).
5. ``revoke --cn <client>`` then ``restore --cn <client>`` — offboarding through the revoke flow:
   the access record, the revocation at the CA, the secrets scheduled for deletion
   (``DeleteSecret``), then restored (``RestoreSecret``) and a new certificate issued.
6. ``provision`` of the same listener with ``"ca": {"kind": "own", "name": "observe"}`` — the
   provision flow's ``EnsureOwnCa`` creates the own CA (KMS ``CreateKey``/``CreateAlias``,
   ``GetPublicKey``, ``AsymmetricSign``; the CAS repository's ``CreateWarehouse``/``UploadPCACert``),
   the client certificate is signed through KMS and the listener switches to the upload.

Operator commands (``albmtls status`` …) are not run: their calls would count as the function
role's. Every call lands in ``<state-dir>/cloud.sqlite3`` (table ``calls``), which
``check-deploy`` maps to RAM actions. Exit 0 when every run succeeded; prints one JSON summary.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "provision.json"


class ObserveError(Exception):
    pass


@contextmanager
def local_cloud(state_dir: Path) -> Iterator[Path]:
    """A demo-seeded local cloud on ``state_dir`` with every service, in this process (flows run
    here and invoke the FC handlers here), for the duration; yields its endpoints file."""
    from localruntime.cloud import LocalCloud, Settings
    from localruntime.ports import free_offset
    from shared.adapters import clients
    from shared.core import logs
    old = {k: os.environ.get(k) for k in ("ALBMTLS_ENDPOINTS_FILE", "ALBMTLS_TARGET")}
    log_stream = open(state_dir / "functions.log", "a", buffering=1, encoding="utf-8")
    logs.configure(stream=log_stream)
    cloud = LocalCloud(state_dir, seed="demo", settings=Settings(
        port_offset=free_offset((443, 8443)), alb_job_seconds=0.2, health_scale=0.25)).start()
    try:
        ep = state_dir / "endpoints.json"
        cloud.write_endpoints(ep)
        os.environ["ALBMTLS_ENDPOINTS_FILE"] = str(ep)
        os.environ["ALBMTLS_TARGET"] = "local"
        clients.clear_cache()
        yield ep
    finally:
        cloud.stop()
        logs.configure()
        log_stream.close()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        clients.clear_cache()


def _albmtls(args: list[str], timeout: float) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")}
    p = subprocess.run([sys.executable, "-m", "albmtls", *args, "--json"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=timeout)
    # The command's document is the last one on stdout (pretty-printed, so it starts with a line
    # "{"); functions the command runs in its own process may log JSON lines before it.
    text = p.stdout
    start = 0 if text.startswith("{\n") else text.rfind("\n{\n") + 1
    try:
        doc = json.loads(text[start:]) if start >= 0 else {}
    except ValueError:
        doc = {"stdout": text[-300:]}
    if p.returncode != 0 or doc.get("status") != "succeeded":
        tail = "\n".join((p.stderr or "").strip().splitlines()[-15:])
        raise ObserveError(f"albmtls {args[0]} failed (exit {p.returncode}): "
                           f"{json.dumps(doc.get('error') or doc)[:500]}\n{tail}")
    return doc


def observe(state_dir: Path, *, timeout: float = 300.0, rotate: bool = True) -> dict[str, Any]:
    """Run the scenario above on ``state_dir`` (must not hold a local cloud yet)."""
    state_dir = Path(state_dir).resolve()
    if (state_dir / "cloud.sqlite3").exists():
        raise ObserveError(f"{state_dir} already holds a local cloud: observe on a fresh directory "
                           "(earlier runs' calls would count)")
    state_dir.mkdir(parents=True, exist_ok=True)
    with local_cloud(state_dir) as ep:
        summary = _scenario(state_dir, ep, timeout, rotate)
    # check-deploy compares the function role with this state directory's calls only when this
    # file says they are the observed run's (a `make run` state covers only the provisioning path)
    from deploy.check.ram import OBSERVED_MARKER
    (state_dir / OBSERVED_MARKER).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _scenario(state_dir: Path, ep: Path, timeout: float, rotate: bool) -> dict[str, Any]:
    out = state_dir / "out"
    base = ["--endpoints-file", str(ep), "--out", str(out)]
    first = _albmtls(["provision", "-f", str(EXAMPLE), *base], timeout)

    variant = json.loads(EXAMPLE.read_text())
    variant["server_certificate"] = {}
    other = "tls_cipher_policy_1_1"
    variant["security_policy_id"] = other if variant.get("security_policy_id") != other else "tls_cipher_policy_1_2"
    variant["server_group"] = dict(variant["server_group"], servers=[dict(variant["server_group"]["servers"][0],
                                                                          weight=50)])
    vfile = state_dir / "observe-update-input.json"
    vfile.write_text(json.dumps(variant, indent=2))
    second = _albmtls(["provision", "-f", str(vfile), *base], timeout)
    summary: dict[str, Any] = {"state_dir": str(state_dir),
                               "provision": {"listener": (first.get("listener") or {}).get("id"),
                                             "writes": first.get("writes")},
                               "update": {"listener": (second.get("listener") or {}).get("id"),
                                          "writes": second.get("writes")}}
    if rotate:
        not_after = min(datetime.fromisoformat(c["not_after"].replace("Z", "+00:00"))
                        for c in first.get("client_certificates") or [])
        now = (not_after.astimezone(UTC) - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        third = _albmtls(["rotate", "--now", now, "--revoke-old", "immediately", *base], timeout)
        renewed = third.get("renewed") or []
        if not renewed:
            raise ObserveError(f"albmtls rotate --now {now} renewed nothing: {json.dumps(third.get('scan'))[:300]}")
        summary["rotate"] = {"now": now, "renewed": len(renewed), "writes": third.get("writes")}
    summary["fleet"] = _fleet_functions()
    cn = (first.get("client_certificates") or [{}])[0].get("common_name", "alice")
    listener = f"{variant['load_balancer_id']}:{variant.get('listener_port', 443)}"
    ep_args = ["--endpoints-file", str(ep)]
    revoked = _albmtls(["revoke", "--listener", listener, "--cn", cn, "--reason", "cessation", *ep_args], timeout)
    restored = _albmtls(["restore", "--listener", listener, "--cn", cn, *ep_args, "--out", str(out)], timeout)
    summary["offboarding"] = {"revoked": revoked.get("writes"), "restored": restored.get("writes")}
    own = json.loads(EXAMPLE.read_text())
    own.pop("ca_identifier", None)
    own["ca"] = {"kind": "own", "name": "observe"}
    ofile = state_dir / "observe-own-ca-input.json"
    ofile.write_text(json.dumps(own, indent=2))
    fourth = _albmtls(["provision", "-f", str(ofile), *base], timeout)
    summary["own_ca"] = {"listener": (fourth.get("listener") or {}).get("ca_certificate_id"),
                         "writes": fourth.get("writes")}
    return summary


def _http_event(method: str, path: str, body: str = "", content_type: str = "application/json",
                query: dict[str, str] | None = None) -> bytes:
    """An FC 3.0 HTTP-trigger event (docs/SERVERLESS.md §2.4)."""
    return json.dumps({"version": "v1", "rawPath": path, "headers": {"Content-Type": content_type},
                       "queryParameters": query or {}, "body": body, "isBase64Encoded": False,
                       "requestContext": {"http": {"method": method, "path": path}}}).encode()


def _fleet_functions() -> dict[str, Any]:
    """Step 4 of the module doc: the drift timer and the API's fleet routes, through the local FC
    invoker (in this process, with the local cloud's endpoints)."""
    from localruntime.fc import invoke_function
    timer = {"triggerTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "triggerName": "daily",
             "payload": json.dumps({"repair": True})}
    drift = json.loads(invoke_function("albmtls-drift-check", json.dumps(timer).encode(), {"timeout": 600}))
    if drift.get("status") != "ok":
        raise ObserveError(f"albmtls-drift-check failed: {json.dumps(drift)[:500]}")
    out: dict[str, Any] = {"drift_checked": drift.get("checked")}
    fleet = (REPO / "examples" / "fleet.yaml").read_text()
    for method, path, body, ctype, query in (("POST", "/fleet/plan", fleet, "application/yaml", None),
                                            ("GET", "/drift", "", "application/json", None),
                                            ("GET", "/inventory", "", "application/json", {"format": "csv"})):
        resp = json.loads(invoke_function("albmtls-provision-api", _http_event(method, path, body, ctype, query)))
        if resp.get("statusCode") != 200:
            raise ObserveError(f"albmtls-provision-api {method} {path}: {resp.get('statusCode')} "
                               f"{str(resp.get('body'))[:500]}")
        out[f"{method} {path}"] = resp["statusCode"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--state-dir", type=Path, default=Path(".albmtls-observe"), help="a fresh directory")
    ap.add_argument("--timeout", type=float, default=300.0, help="per command, seconds")
    ap.add_argument("--no-rotate", dest="rotate", action="store_false", help="provision runs only")
    a = ap.parse_args(argv)
    try:
        summary = observe(a.state_dir, timeout=a.timeout, rotate=a.rotate)
    except (ObserveError, subprocess.TimeoutExpired) as exc:
        print(f"observe: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    print(f"next: albmtls check-deploy --state-dir {a.state_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
