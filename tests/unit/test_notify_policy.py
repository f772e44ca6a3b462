"""Notification channels (shared.policy.notify): each service's signature computed as its own
documentation's sample does, the request shapes, the answer classification, no secrets."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse

import pytest

from shared.core.errors import AlbMtlsError
from shared.policy.notify import (
    DingTalkChannel,
    LarkChannel,
    Notice,
    WebhookChannel,
    WeComChannel,
    build_http,
    check_clean,
    classify_http,
    decode_config,
    mask_url,
)

NOTICE = Notice(kind="renewal_failed", audience="operators", title="t", text="line", facts={"serial": "01"}, id="msg_1")
WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()


def test_dingtalk_signs_the_documented_way():
    """open.dingtalk.com custom-robot-access, the official Python sample: HMAC-SHA256 with the
    secret as key over "<ms>\\n<secret>", Base64, then quote_plus — both in the URL."""
    secret, ts = "SEC0123abc", 1_700_000_000_123
    req = build_http(DingTalkChannel(name="d", url="https://oapi.dingtalk.com/robot/send?access_token=T",
                                     secret=secret), NOTICE, ts)
    mac = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    want = urllib.parse.quote_plus(base64.b64encode(mac))
    assert req.url == f"https://oapi.dingtalk.com/robot/send?access_token=T&timestamp={ts}&sign={want}"
    body = json.loads(req.body)
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] == "t"


def test_lark_signs_with_the_string_as_key_over_nothing():
    """open.feishu.cn add-custom-bot: key = "<s>\\n<secret>", message empty, Base64, in the body."""
    secret, ts_ms = "s3cret", 1_700_000_000_999
    body = json.loads(build_http(LarkChannel(name="l", url="https://open.feishu.cn/open-apis/bot/v2/hook/x",
                                             secret=secret), NOTICE, ts_ms).body)
    ts = ts_ms // 1000
    want = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    assert body["timestamp"] == str(ts) and body["sign"] == want and body["msg_type"] == "text"


def test_generic_webhook_is_standard_webhooks_v1():
    req = build_http(WebhookChannel(name="w", url="https://hooks.example.test/a", secret=WHSEC), NOTICE,
                     1_700_000_000_000)
    h = req.headers
    key = base64.b64decode(WHSEC.removeprefix("whsec_"))
    signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + req.body
    assert h["webhook-id"] == "msg_1" and h["webhook-timestamp"] == "1700000000"
    assert h["webhook-signature"] == "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert json.loads(req.body)["data"]["serial"] == "01"


def test_wecom_markdown_is_cut_at_4096_bytes():
    long = Notice(kind="test", audience="operators", title="t", text="界" * 3000)
    body = json.loads(build_http(WeComChannel(name="w", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"),
                                 long, 0).body)
    assert len(body["markdown"]["content"].encode()) <= 4096


@pytest.mark.parametrize("kind,status,body,want", [
    ("dingtalk", 200, b'{"errcode":0,"errmsg":"ok"}', (True, False, "OK")),
    ("dingtalk", 200, b'{"errcode":310000,"errmsg":"sign not match"}', (False, False, "DINGTALK_310000")),
    ("dingtalk", 200, b'{"errcode":130101}', (False, True, "DINGTALK_130101")),
    ("wecom", 200, b'{"errcode":45009}', (False, True, "WECOM_45009")),
    ("lark", 200, b'{"StatusCode":0,"StatusMessage":"success"}', (True, False, "OK")),
    ("lark", 200, b'{"code":19021,"msg":"sign match fail"}', (False, False, "LARK_19021")),
    ("webhook", 204, b"", (True, False, "OK")),
    ("webhook", 401, b"", (False, False, "HTTP_401")),
    ("webhook", 503, b"", (False, True, "HTTP_503")),
    ("wecom", 429, b"", (False, True, "HTTP_429")),
])
def test_answers_are_classified_on_the_body(kind, status, body, want):
    assert classify_http(kind, status, body) == want


def test_urls_are_masked_for_logs():
    assert mask_url("https://oapi.dingtalk.com/robot/send?access_token=SECRET&timestamp=1&sign=x") == \
        "https://oapi.dingtalk.com/robot/send?access_token=…&timestamp=…&sign=…"
    assert "SECRET" not in mask_url("https://open.feishu.cn/open-apis/bot/v2/hook/SECRET")


def test_key_material_is_never_sent():
    with pytest.raises(AlbMtlsError):
        check_clean("-----BEGIN PRIVATE KEY-----")
    with pytest.raises(AlbMtlsError):
        check_clean("the password is hunter2hunter2", ("hunter2hunter2",))
    check_clean("serial 01, not_after 2026-01-01T00:00:00Z")


def test_config_is_validated_with_the_field_named():
    with pytest.raises(AlbMtlsError) as e:
        decode_config(json.dumps({"channels": [{"type": "webhook", "name": "w", "url": "https://x",
                                                "secret": "nope"}]}))
    assert e.value.code == "CONFIG_INVALID" and e.value.field == "channels[0].secret"
    with pytest.raises(AlbMtlsError) as e:
        decode_config(json.dumps({"channels": [{"type": "wecom", "name": "a", "url": "https://x"},
                                               {"type": "wecom", "name": "a", "url": "https://y"}]}))
    assert "unique" in e.value.message


def test_a_holder_webhook_naming_no_channel_is_a_warning_naming_the_field():
    """A system holder's `webhook` that names no configured channel (or with no configuration at all)
    passed the plan silently and its renewals reached no one: now a CHANNEL_NOT_CONFIGURED warning
    naming clients[i].holder.webhook and the configured channels; a configured one is silent."""
    from types import SimpleNamespace

    from shared.policy.notify import NotifyConfig, webhook_warnings

    def client(cn, webhook):
        return SimpleNamespace(common_name=cn, holder=SimpleNamespace(kind="system", webhook=webhook))

    cfg = NotifyConfig(channels=(WebhookChannel(name="billing-hook", url="https://hooks.example.test/a",
                                                secret=WHSEC),))
    clients = [client("a", "billing-hook"), SimpleNamespace(common_name="b", holder=None), client("c", "nope"),
               client("d", None)]
    [w] = webhook_warnings(clients, cfg)
    assert w["code"] == "CHANNEL_NOT_CONFIGURED" and w["field"] == "clients[2].holder.webhook"
    assert "'nope'" in w["message"] and "billing-hook" in w["message"] and "channels set" in w["message"]
    none = webhook_warnings(clients, None, "no notification configuration: store one")
    assert [x["field"] for x in none] == ["clients[0].holder.webhook", "clients[2].holder.webhook"]
    assert webhook_warnings([client("a", "billing-hook")], cfg) == []
