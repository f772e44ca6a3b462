"""``albmtls channels set|test``: the account's notification configuration, configured once.

``set -f FILE`` validates a notification configuration (``shared.policy.notify.NotifyConfig``:
``download_url``, ``link_ttl_hours``, ``not_switched_days``, the DingTalk / WeCom / Lark / webhook /
SMTP channels with their secrets) and stores it as a new version of the KMS secret
``<prefix>/notify/config`` — the only place channel secrets live (never the input, never a flow's
state). A bad file is ``CONFIG_INVALID`` naming the field; its values are never echoed.

``test`` sends one ``test`` notice to the operators' channels and says which took it (a failing
channel is named with its code, as ``status`` shows it for a delivery).

The local cloud stores its own configuration (its mail server and webhook receiver) on start
(``localruntime.notifysinks``); ``set`` replaces it until the next start.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import typer

from .options import (
    EndpointsFile,
    JsonOut,
    PortOffset,
    StateDir,
    Target,
    check_secret_prefix,
    emit_json,
    exit_for,
    open_target,
    quiet_logs,
    read_input,
)
from .options import console as _console

channels_app = typer.Typer(no_args_is_help=True, help="Store or test the notification channels (KMS, configured once).")
SecretPrefix = typer.Option("albmtls", "--secret-prefix", help="The KMS secret prefix (the secret is "
                            "<prefix>/notify/config).")


def store_config(settings: Any, text: str, prefix: str) -> dict[str, Any]:
    """Validate ``text`` and store it in ``<prefix>/notify/config`` (0 writes when stored already)."""
    from shared.adapters import kms as kms_api
    from shared.policy.notify import decode_config, encode_config
    from shared.steps.deliver import config_secret
    from shared.steps.rotation import make_context
    cfg = decode_config(text)
    data = encode_config(cfg)
    ctx = make_context(settings, "channels", deadline_s=60)
    name = config_secret(prefix)
    writes = ctx.adapter(kms_api.Kms).store_version(
        name, data, "c" + hashlib.sha256(data.encode()).hexdigest()[:32], data_type="text",
        description="alb-mtls notification channels (download URL, robots, webhooks, SMTP) and their secrets")
    return {"secret": name, "writes": writes, "download_url": cfg.download_url,
            "channels": [{"name": c.name, "type": type(c).__name__.removesuffix("Channel").lower(),
                          "audience": list(c.audience)} for c in cfg.channels]}


def send_test(settings: Any, prefix: str) -> dict[str, Any]:
    """One ``test`` notice to the operators' channels: ``{sent: [...], failures: [...]}``."""
    from shared.core.errors import AlbMtlsError, Code
    from shared.steps.deliver import load_config, notify_operators
    from shared.steps.rotation import make_context
    ctx = make_context(settings, "channels", deadline_s=120)
    cfg = load_config(ctx, prefix)
    if cfg.cfg is None:
        raise AlbMtlsError(Code.CONFIG_INVALID, cfg.problem or "no notification configuration")
    sent, failed = notify_operators(ctx, cfg.cfg, "test", "alb-mtls: test notice",
                                    "This is a test of the alb-mtls notification channels.", {"test": True})
    return {"sent": sent, "failures": [{"channel": f.channel, "code": f.code, "message": f.message} for f in failed]}


def _run(fn: Any, target: str, state_dir: Path, endpoints_file: Path | None, port_offset: int,
         json_out: bool, secret_prefix: str) -> dict[str, Any]:
    from shared.core.errors import AlbMtlsError
    try:
        check_secret_prefix(secret_prefix)
        with open_target(target, state_dir, endpoints_file, port_offset=port_offset, json_out=json_out) as opened:
            result: dict[str, Any] = fn(opened.settings)
            return result
    except AlbMtlsError as exc:
        return {"error": exc.to_dict()}


def _exit(doc: dict[str, Any], json_out: bool, text: str) -> None:
    if json_out:
        emit_json(doc)
    elif doc.get("error"):
        _console().print(f"[red]{doc['error']['code']}[/]: {doc['error']['message']}", soft_wrap=True)
    else:
        _console().print(text, soft_wrap=True, highlight=False)
    code = (doc.get("error") or {}).get("code")
    raise typer.Exit(exit_for(code))


@channels_app.command("set")
def set_channels(file: Path = typer.Option(..., "-f", "--file", help="The notification configuration (JSON; "
                                           "docs/DELIVERY.md \"Channels\")."),
                 secret_prefix: str = SecretPrefix, target: str = Target, state_dir: Path = StateDir,
                 endpoints_file: Path | None = EndpointsFile, port_offset: int = PortOffset,
                 json_out: bool = JsonOut) -> None:
    """Validate the channels file and store it in KMS (<prefix>/notify/config)."""
    from shared.core.errors import AlbMtlsError, Code
    quiet_logs()
    try:
        text = read_input(file).decode("utf-8-sig")
    except AlbMtlsError as exc:
        _exit({"error": exc.to_dict()}, json_out, "")
    except UnicodeDecodeError:
        err = AlbMtlsError(Code.INVALID_INPUT, f"{file} is not UTF-8 text; save it as UTF-8", field="file")
        _exit({"error": err.to_dict()}, json_out, "")
    doc = _run(lambda s: store_config(s, text, secret_prefix), target, state_dir, endpoints_file, port_offset,
               json_out, secret_prefix)
    names = ", ".join(f"{c['name']} ({c['type']})" for c in doc.get("channels") or [])
    _exit(doc, json_out, f"stored in {doc.get('secret')} ({doc.get('writes')} write(s)): {names or 'no channels'}")


@channels_app.command("test")
def test_channels(secret_prefix: str = SecretPrefix, target: str = Target, state_dir: Path = StateDir,
                  endpoints_file: Path | None = EndpointsFile, port_offset: int = PortOffset,
                  json_out: bool = JsonOut) -> None:
    """Send one test notice to the operators' channels and say which took it."""
    quiet_logs()
    doc = _run(lambda s: send_test(s, secret_prefix), target, state_dir, endpoints_file, port_offset, json_out,
               secret_prefix)
    fails = "; ".join(f"{f['channel']}: {f['code']}" for f in doc.get("failures") or [])
    if doc.get("failures") and not doc.get("error"):
        doc["error"] = {"code": "CHANNEL_FAILED", "message": f"not every channel took the notice: {fails}"}
    _exit(doc, json_out, f"sent to {', '.join(doc.get('sent') or []) or 'no channel'}")
