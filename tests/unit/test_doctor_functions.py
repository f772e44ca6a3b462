"""The doctor's reading of the deployed functions on a real account (FC 3.0 GetFunction is not
emulated by the local cloud): a fake FC client stands in for the SDK's."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from albmtls.doctor.checks import DoctorEnv, functions
from shared.core.settings import Settings


class FakeFc:
    deployed: dict[str, dict] = {}

    def __init__(self, config):
        self.config = config

    def get_function(self, name, request):
        fn = self.deployed.get(name)
        if fn is None:
            from alibabacloud_tea_openapi.exceptions import ClientException
            raise ClientException(code="FunctionNotFound", status_code=404, message="not found",
                                  request_id="r", data={"Code": "FunctionNotFound"})
        return SimpleNamespace(body=SimpleNamespace(runtime=fn["runtime"],
                                                    environment_variables=fn["env"]))


@pytest.fixture
def fake_fc(monkeypatch):
    import alibabacloud_fc20230330.client as fc
    monkeypatch.setattr(fc, "Client", FakeFc)
    return FakeFc


def _names():
    import yaml

    from albmtls.doctor.checks import REPO
    spec = yaml.safe_load((REPO / "s.yaml").read_text())
    return [str(r["props"]["functionName"]) for r in spec["resources"].values() if r.get("component") == "fc3"]


def test_every_function_deployed_with_the_ca_id_form_set_here(fake_fc):
    fake_fc.deployed = {n: {"runtime": "python3.12", "env": {"ALBMTLS_ALB_CA_ID_FORM": "cert_identifier"}}
                        for n in _names()}
    f = functions(DoctorEnv(Settings(access_key_id="AK", access_key_secret="SK"), "cloud"))
    assert f.result == "ok" and f.detail.startswith(f"{len(_names())} of {len(_names())} functions deployed")


def test_a_missing_function_and_a_different_form_fail_with_what_to_do(fake_fc):
    names = _names()
    fake_fc.deployed = {n: {"runtime": "python3.12", "env": {"ALBMTLS_ALB_CA_ID_FORM": "identifier"}}
                        for n in names[1:]}
    f = functions(DoctorEnv(Settings(access_key_id="AK", access_key_secret="SK"), "cloud"))
    assert f.result == "fail"
    assert f"{names[0]}: FunctionNotFound" in f.detail
    assert f"{names[1]}: ALBMTLS_ALB_CA_ID_FORM=identifier, here cert_identifier" in f.detail
    assert "s deploy" in f.fix
