"""Delivery end to end (issue 15): `albmtls provision` with the example input (alice is a person with
an email) sends her a one-time link through the local cloud's real SMTP server (STARTTLS + AUTH);
`albmtls messages` shows the email; a real browser (headless Chromium) opens the link, is refused a
weak password, chooses a good one and downloads the PKCS#12; `openssl pkcs12` opens it with that
password, curl gets HTTP 200 through the mTLS listener with it; the link then answers "already used"."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.browser import chromium, require_browser, wait_for_download

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple 7"


def albmtls(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "albmtls", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")})


def messages(ep: str) -> list[dict]:
    p = albmtls("messages", "--endpoints-file", ep, "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)["messages"]


def link_of(message: dict) -> str:
    m = re.search(r"(http://127\.0\.0\.1:\d+/d/[A-Za-z0-9_.-]+)", message["text"])
    assert m, message["text"]
    return m.group(1)


def test_make_run_sends_a_link_the_browser_downloads_once(live_cloud, tmp_path):
    require_browser()
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    p = albmtls("provision", "-f", str(REPO / "examples" / "provision.json"), "--endpoints-file", ep,
                "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr[-3000:]
    assert "download link sent to Alice Example (a***@example.test) for alice" in p.stderr
    assert not (tmp_path / "out" / "alice.pfx").exists()      # a person's certificate leaves KMS by the page only
    st = albmtls("status", "--endpoints-file", ep, "--json")
    [row] = [r for r in json.loads(st.stdout)["certificates"] if r["common_name"] == "alice"]
    assert "seen_at_listener" not in row                       # the live probe's requests are not alice's

    [mail] = [m for m in messages(ep) if m["service"] == "smtp"]
    assert mail["verified"] and mail["tls"] and mail["user"] == "alb-mtls"   # AUTH over STARTTLS
    assert mail["to"] == ["alice@example.test"] and "is ready" in mail["subject"]
    link = link_of(mail)

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    from selenium.webdriver.common.by import By
    with chromium(downloads) as browser:
        browser.get(link)
        assert "Download your client certificate alice" in browser.find_element(By.TAG_NAME, "h1").text
        assert "Windows or macOS: compat" in browser.find_element(By.TAG_NAME, "body").text
        for field in ("password", "confirm"):                     # a weak password: refused, link kept
            browser.find_element(By.ID, field).send_keys("password123456")
        browser.find_element(By.ID, "download").click()
        assert "too easy to guess" in browser.find_element(By.CLASS_NAME, "err").text
        assert list(downloads.iterdir()) == []
        for field in ("password", "confirm"):
            el = browser.find_element(By.ID, field)
            el.clear()
            el.send_keys(PASSWORD)
        browser.find_element(By.ID, "download").click()
        pfx = wait_for_download(downloads)
        assert pfx.name == "alice.p12"

        # the file opens with the chosen password (3DES + SHA-1 MAC: the compat profile)
        info = subprocess.run(["openssl", "pkcs12", "-info", "-noout", "-in", str(pfx), "-passin",
                               f"pass:{PASSWORD}"], capture_output=True, text=True, timeout=20)
        assert info.returncode == 0, info.stderr
        assert "pbeWithSHA1And3-KeyTripleDES-CBC" in info.stderr + info.stdout

        # and gets through the listener with mutual TLS
        port = 443 + live_cloud.settings.port_offset
        ca = Path(live_cloud.endpoints()["state_dir"]) / "server-root-ca.pem"
        curl = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", str(ca), "--resolve",
                               f"app.example.test:{port}:127.0.0.1", "-o", "/dev/null", "-w", "%{http_code}",
                               "--cert-type", "P12", "--cert", f"{pfx}:{PASSWORD}", f"https://app.example.test:{port}/"],
                              capture_output=True, text=True, timeout=20)
        assert curl.stdout == "200", curl.stderr

        # a second visit is refused
        browser.get(link)
        assert "already used" in browser.find_element(By.TAG_NAME, "h1").text
        assert "albmtls resend --cn alice" in browser.page_source

    # the status shows the download
    st = albmtls("status", "--endpoints-file", ep, "--json")
    assert st.returncode == 0, st.stderr[-2000:]
    [row] = [r for r in json.loads(st.stdout)["certificates"] if r["common_name"] == "alice"]
    assert row["delivery"]["delivery"] == "downloaded" and row["delivery"]["holder"] == "Alice Example"
    # and that alice connected with it: the local data plane saw its fingerprint (the probe's own
    # requests during provisioning are not counted: before the curl it was not seen)
    assert row["seen_at_listener"]["first"] >= row["delivery"]["downloaded_at"]
