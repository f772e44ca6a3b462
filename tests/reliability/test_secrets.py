"""Secrets hygiene: the scan of logs, results, execution histories, exception messages and CLI
output finds no private key, PFX bytes or password — and it does find one when one leaks."""
from __future__ import annotations

import base64
import json
import logging


def test_the_scan_finds_nothing_after_a_run_and_finds_a_planted_leak(suite):
    suite.cloud.faults.configure(suite.configure_faults(0.2))
    runs = suite.provision_all([0])
    assert runs[0].status == "succeeded", runs[0]
    clean = suite.scan()
    assert clean["found"] == [] and clean["needles"]["password"] == 1 and clean["needles"]["pfx_raw"] == 1
    # the holder's email and the chat robots' notices are scanned too, and the channels' credentials sought
    assert clean["scanned"]["messages"] >= 2 and clean["needles"]["channel_secret"] >= 5
    # positive controls: each kind of secret, leaked into one place, is found
    pw = next(v["SecretData"] for s in suite.cloud.store.list("kms.secret") if s["SecretName"].endswith("/password")
              for v in s["versions"])
    pfx_b64 = next(v["SecretData"] for s in suite.cloud.store.list("kms.secret") if s["SecretName"].endswith("/pfx")
                   for v in s["versions"])
    logging.getLogger("leaky.library").warning("connecting with %s", pw)
    suite.texts["cli"].append(base64.b64decode(pfx_b64).decode("latin-1"))
    suite.texts["exceptions"].append("ValueError: bad key -----BEGIN EC PRIVATE KEY-----")
    suite.cloud.store.put("notify.message", "99999999", {"n": 99999999, "service": "smtp", "text": f"pw {pw}"})
    smtp_pw = next(json.loads(v["SecretData"]) for s in suite.cloud.store.list("kms.secret")
                   if s["SecretName"].endswith("/notify/config") for v in s["versions"])["channels"][0]["password"]
    suite.texts["results"].append(f"smtp {smtp_pw}")
    found = suite.scan()["found"]
    assert {"password in logs", "pfx_raw in cli", "marker in exceptions", "password in messages",
            "channel_secret in results"} <= set(found), found
