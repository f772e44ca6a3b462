"""The local cloud of the rotation-scan benchmark, in its own process (so that ``tracemalloc`` in
the scanning process sees the scan's memory only).

    python -m bench.scan_cloud --state-dir D --endpoints-file F

Starts the control plane (no background services) on a demo-seeded state directory, writes the
endpoints file, then reads commands on stdin, one per line, answering one JSON line on stdout:

* ``load N`` — add client certificates until the sub-CA holds ``N`` (bulk, in-process: one CSR
  signed again and again, each with its own ``CustomIdentifier`` of this automation, valid and
  not due) → ``{"count": N, "seconds": s}``;
* ``quit`` (or end of input) — stop.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

MAX_LIFETIME_S = 3600.0        # never outlive a forgotten parent


def _csr_pem(family: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1()) if family.upper().startswith("EC") else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-client")]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def load(cloud, count: int) -> dict:
    """Issue certificates under the demo sub-CA until it holds ``count``."""
    from .scan import load as load_in_process
    sub = cloud.endpoints()["seed"]["pca_sub_identifier"]
    have = cloud.store.count("pca.client", key2=sub)
    seconds = load_in_process(cloud, max(0, count - have), start=have)
    return {"count": cloud.store.count("pca.client", key2=sub), "seconds": round(seconds, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scan_cloud")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--endpoints-file", required=True)
    args = ap.parse_args(argv)
    from localruntime.cloud import LocalCloud, Settings
    cloud = LocalCloud(args.state_dir, seed="demo", settings=Settings(services=())).start()
    try:
        cloud.write_endpoints(args.endpoints_file)
        started = time.monotonic()
        for line in sys.stdin:
            cmd = line.split()
            if not cmd or cmd[0] == "quit" or time.monotonic() - started > MAX_LIFETIME_S:
                break
            if cmd[0] == "load":
                out = load(cloud, int(cmd[1]))
            else:
                out = {"error": f"unknown command {cmd[0]!r}"}
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
    finally:
        cloud.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
