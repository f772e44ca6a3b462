"""The secrets scan: everything a user or an operator can read (log lines, results, execution
histories, exception messages, CLI output, and every email and webhook/robot message the local
cloud's mail server and webhook receiver kept) searched for what must never appear there
(passwords, PFX bytes and Base64, private-key bodies, the ``PRIVATE KEY`` marker, the notification
channels' own credentials)."""
from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reliability.suite import Suite


def gather_texts(suite: Suite) -> dict[str, list[str]]:
    """Everything a user or an operator can read: function/local-cloud log lines, results,
    execution histories (fnf ``GetExecutionHistory`` and the stored ``fnf.execution``
    documents), exception messages and CLI output."""
    from shared.adapters.retry import Deadline
    from shared.steps.provisioning import PROVISION_FLOW, history
    texts = {k: list(v) for k, v in suite.texts.items()}
    texts["logs"] = suite.log_lines()
    texts["histories"] = [json.dumps(d, default=str) for d in suite.cloud.store.list("fnf.execution")]
    texts["messages"] = message_texts(suite.cloud.store)
    for r in suite.results[:5]:
        if r.execution:
            try:
                texts["histories"].append(json.dumps(history(suite.settings, PROVISION_FLOW, r.execution,
                                                             Deadline(60)), default=str))
            except Exception as exc:  # the scan still covers the stored documents
                texts["exceptions"].append(f"{type(exc).__name__}: {exc}")
    from shared.policy.lane import ISSUE_FLOW
    rot_names = sorted({n for e in suite.rotation_log for n in e["executions"] if n})
    for name in rot_names[:5]:
        try:
            texts["histories"].append(json.dumps(history(suite.settings, ISSUE_FLOW, name, Deadline(60)),
                                                 default=str))
        except Exception as exc:  # the scan still covers the stored documents
            texts["exceptions"].append(f"{type(exc).__name__}: {exc}")
    fl = suite.workdir / "state" / "functions.log"
    if fl.exists():
        texts["logs"].extend(fl.read_text(errors="replace").splitlines())
    return texts


def message_texts(store: Any) -> list[str]:
    """Every message the local mail server and webhook receiver kept (``localruntime.notifysinks``),
    as JSON text: the emails' subjects and bodies, the robots' and webhooks' bodies."""
    return [json.dumps(d, default=str, ensure_ascii=False) for d in store.list("notify.message")]


def secret_needles(suite: Suite) -> dict[str, list[str]]:
    """What must never appear: passwords and PFX (base64 and raw bytes) from the KMS secrets, the
    issuer's logged keys (``<prefix>/.issuer/keys``), private-key PEM bodies from the emulator's own
    keys, the ``PRIVATE KEY`` marker, and the notification channels' credentials (SMTP password,
    robot keys and signing secrets)."""
    return needles_from_store(suite.cloud.store)


def needles_from_store(store: Any) -> dict[str, list[str]]:
    needles: dict[str, list[str]] = {"marker": ["PRIVATE KEY"], "password": [], "pfx_base64": [],
                                     "pfx_raw": [], "key_body": [], "channel_secret": []}
    for s in store.list("kms.secret"):
        if s["SecretName"].endswith("/notify/config"):
            for v in s.get("versions") or []:
                needles["channel_secret"].extend(_channel_secrets(str(v.get("SecretData") or "")))
            continue
        for v in s.get("versions") or []:
            data = str(v.get("SecretData") or "")
            if s["SecretName"].endswith("/password") and data:
                needles["password"].append(data)
            elif s["SecretName"].endswith("/.issuer/keys") and data:
                try:
                    entries = json.loads(data).get("entries") or []
                except ValueError:
                    entries = []
                for e in entries:
                    needles["key_body"].extend(_windows(str(e.get("key") or "")))
            elif s["SecretName"].endswith("/pfx") and data:
                needles["pfx_base64"].extend(_windows(data))
                try:
                    raw = base64.b64decode(data)
                    needles["pfx_raw"].append(raw[len(raw) // 2: len(raw) // 2 + 24].decode("latin-1"))
                    needles["pfx_base64"].extend(_windows(base64.urlsafe_b64encode(raw).decode()))
                except ValueError:
                    pass
    for kind, fld in (("pca.ca", "key_pem"), ("cas.cert", "Key")):
        for d in store.list(kind):
            body = "".join(ln for ln in str(d.get(fld) or "").splitlines() if ln and not ln.startswith("-----"))
            if body:
                needles["key_body"].extend(_windows(body))
    return needles


def scan(suite: Suite) -> dict[str, Any]:
    """``{found, scanned, scanned_chars, needles}``: ``found`` names each kind of secret seen and where."""
    texts = gather_texts(suite)
    needles = secret_needles(suite)
    found: list[str] = []
    for source, items in texts.items():
        blob = "\n".join(t for t in items if t)
        for kind, values in needles.items():
            for v in values:
                if v and v in blob:
                    found.append(f"{kind} in {source}")
                    break
    return {"found": sorted(set(found)),
            "scanned": {k: len(v) for k, v in texts.items()},
            "scanned_chars": sum(len(t or "") for v in texts.values() for t in v),
            "needles": {k: len(v) for k, v in needles.items()}}


def _channel_secrets(config_text: str) -> list[str]:
    """The credentials in a notification configuration: passwords, signing secrets, the keys in
    robot URLs (``access_token=``, ``key=``, a Lark hook id)."""
    import re
    try:
        cfg = json.loads(config_text)
    except ValueError:
        return []
    out: list[str] = []
    for ch in cfg.get("channels") or []:
        out += [str(ch[k]) for k in ("password", "secret") if ch.get(k)]
        url = str(ch.get("url") or "")
        out += [m for m in re.findall(r"(?:access_token|key)=([^&\s]+)", url)]
        out += re.findall(r"/hook/([^/?\s]+)", url)
    return [s for s in out if len(s) >= 8]


def _windows(text: str, size: int = 40) -> list[str]:
    """A few distinctive ``size``-char slices of ``text`` (start, middle, end)."""
    text = text.replace("\n", "")
    if len(text) <= size:
        return [text] if len(text) >= 16 else []
    mid = len(text) // 2
    return [text[:size], text[mid: mid + size], text[-size:]]
