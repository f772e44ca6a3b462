"""clients[].holder in the provision input: a person or a system, validated with the field named."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.core.errors import AlbMtlsError
from shared.policy.contracts import PersonHolder, ProvisionInput, SystemHolder
from shared.policy.validation import decode

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "provision.json").read_text())


def with_holder(holder) -> dict:
    return dict(EXAMPLE, clients=[dict(EXAMPLE["clients"][0], holder=holder)])


def test_the_example_names_alice_as_a_person():
    h = decode(ProvisionInput, EXAMPLE).clients[0].holder
    assert isinstance(h, PersonHolder) and h.email == "alice@example.test"


@pytest.mark.parametrize("holder,cls", [
    ({"kind": "person", "name": "Alice", "email": "alice@example.com", "dingtalk": "+86-13800000000"}, PersonHolder),
    ({"kind": "person", "name": "Bob", "email": "b.o+b@sub.xn--fiqs8s.example"}, PersonHolder),
    ({"kind": "system", "name": "billing"}, SystemHolder),
    ({"kind": "system", "name": "billing", "ram_principal": "acs:ram::1234567890123456:role/billing-app",
      "webhook": "systems-webhook"}, SystemHolder),
])
def test_valid_holders(holder, cls):
    assert isinstance(decode(ProvisionInput, with_holder(holder)).clients[0].holder, cls)


@pytest.mark.parametrize("holder,field,words", [
    ({"kind": "robot", "name": "x"}, "clients[0].holder.kind", "expected one of: person, system"),
    ({"name": "x"}, "clients[0].holder.kind", "required"),
    ({"kind": "person", "name": "Alice"}, "clients[0].holder.email", "required"),
    ({"kind": "person", "name": "Alice", "email": "alice"}, "clients[0].holder.email", "an email address"),
    ({"kind": "person", "name": "", "email": "a@b.co"}, "clients[0].holder.name", "printable"),
    ({"kind": "person", "name": "A", "email": "a@b.co", "dingtalk": "two words"}, "clients[0].holder.dingtalk",
     "DingTalk mobile number"),
    ({"kind": "system", "name": "b", "ram_principal": "arn:aws:iam::1:role/x"}, "clients[0].holder.ram_principal",
     "RAM user or role ARN"),
    ({"kind": "system", "name": "b", "webhook": "Has Spaces"}, "clients[0].holder.webhook", "channel name"),
    ({"kind": "system", "name": "b", "email": "a@b.co"}, "clients[0].holder.email", "not a known field"),
])
def test_bad_holders_name_the_field(holder, field, words):
    with pytest.raises(AlbMtlsError) as e:
        decode(ProvisionInput, with_holder(holder))
    assert e.value.code == "INVALID_INPUT" and e.value.field == field and words in e.value.message, e.value.message
