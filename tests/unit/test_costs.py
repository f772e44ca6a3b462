"""The cost forecast (shared.policy.costs, `albmtls ca cost`): certificates a year from each client's
days and renew_before_days, the PCA's tiered certificate price, one line per CA choice, and the one
price table equal to docs/COSTS.md's price list."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from albmtls.app import app
from shared.policy import costs
from shared.policy.contracts import ProvisionInput
from shared.policy.validation import decode

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.mark.parametrize(("days", "renew_before", "interval"), [
    (30, None, 20.0),          # 2/3 of the lifetime
    (30, 5, 20.0),             # renew_before later than 2/3: 2/3 wins (due_at's min)
    (30, 15, 15.0),            # earlier: renew_before wins
    (14, None, 14 * 2 / 3),
    (1, None, 2 / 3),
    (3650, 365, 3650 * 2 / 3),
])
def test_renewal_interval_is_the_rotations_due_rule(days, renew_before, interval):
    assert costs.renewal_interval_days(days, renew_before) == pytest.approx(interval)
    assert costs.certificates_a_year(days, renew_before) == pytest.approx(365 / interval)


@pytest.mark.parametrize(("certs", "usd"), [
    (0, 0.0), (1, 0.7), (1000, 700.0), (1001, 700.3), (1500, 850.0), (10_000, 700 + 9000 * 0.3),
])
def test_pca_certificates_are_priced_in_graduated_tiers(certs, usd):
    assert costs.pca_certificate_cost(certs) == pytest.approx(usd)


def _inp(clients, ca=None, port=443):
    doc = {"load_balancer_id": "alb-demostd000000000001", "listener_port": port, "domain": "example.test",
           "rr": "app", "server_group": {"name": f"sg-{port}", "servers": [{"server_id": "i-bp1demoecs00000000001",
                                                                             "port": 80}]},
           "clients": clients, **(ca or {"ca_identifier": "8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42"})}
    return decode(ProvisionInput, doc)


def test_the_docs_example_50_holders_on_30_day_certificates():
    use = costs.fleet_use([_inp([{"common_name": f"h{i}"} for i in range(50)])])
    assert (use.listeners, use.holders, use.intervals) == (1, 50, {20.0: 50})
    assert use.certificates == pytest.approx(912.5)
    by = {c.choice: c for c in costs.forecast(use).choices}
    assert list(by) == list(costs.CHOICES)
    assert by["pca"].total_a_year == pytest.approx(9120 + 912.5 * 0.7)       # docs: about USD 9,760
    assert by["pca"].current and not by["own-existing-kms"].current
    assert by["own-existing-kms"].total_a_year == pytest.approx(2 * 0.03 * 365)   # about USD 22
    assert by["own-new-payg"].total_a_year == pytest.approx((4.5 + 0.5 + 2 * 0.03) * 365)
    assert by["own-new-subscription"].total_a_year == pytest.approx(6000)
    assert all(c.certificates_a_year == 0 for c in by.values() if c.choice != "pca")


def test_the_fleet_decides_sub_cas_own_cas_and_intervals():
    fleet = [
        _inp([{"common_name": "a", "days": 14}, {"common_name": "b", "days": 30, "renew_before_days": 15}]),
        _inp([{"common_name": "c"}], ca={"ca_identifier": "1efd3cac-ee8e-6a00-ad80-5e318b70b839"}, port=8443),
        _inp([{"common_name": "d"}], ca={"ca": {"kind": "own", "name": "demo"}}, port=9443),
        _inp([{"common_name": "e"}], ca={"ca": {"kind": "own", "name": "other"}}, port=9444),
    ]
    use = costs.fleet_use(fleet)
    assert use.pca_sub_cas == ("1efd3cac-ee8e-6a00-ad80-5e318b70b839", "8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42")
    assert use.own_cas == ("demo", "other")
    assert use.intervals == {9.33: 1, 15.0: 1, 20.0: 3}
    assert use.certificates == pytest.approx(365 / (14 * 2 / 3) + 365 / 15 + 3 * 365 / 20)
    by = {c.choice: c for c in costs.forecast(use).choices}
    assert by["pca"].fixed_a_year == pytest.approx(12 * (760 + 380))           # a second sub-CA
    assert by["pca"].label == "PCA (root + 2 sub-CAs)"
    assert by["own-existing-kms"].fixed_a_year == pytest.approx(2 * 2 * 0.03 * 365)   # 2 CAs × 2 keys
    assert by["pca"].current and by["own-existing-kms"].current


def test_past_the_priced_tiers_the_forecast_says_so():
    use = costs.FleetUse(listeners=1, holders=1000, certificates=20_000.0, intervals={}, pca_sub_cas=(), own_cas=())
    pca = costs.forecast(use).choices[0]
    assert pca.notes and "no price" in pca.notes[0]
    assert pca.certificates_a_year == pytest.approx(700 + 19_000 * 0.3)


def test_the_price_table_is_docs_costs_price_list():
    text = (ROOT / "docs" / "COSTS.md").read_text()
    section = text.split("## Price list", 1)[1].split("\n## ", 1)[0]
    numbers = set(re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?", section))
    for key, price in costs.PRICES.items():
        assert f"{price.usd:,g}" in numbers, (key, price.usd)
        assert price.source in section, (key, price.source)


def test_ca_cost_command_prints_one_line_per_choice_and_json(tmp_path):
    r = runner.invoke(app, ["ca", "cost", "-f", str(ROOT / "examples" / "fleet.yaml")])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "20 holder(s) on 2 listener(s)" in lines[0] and "407 certificates a year" in lines[0]
    assert [ln.split("  ")[0] for ln in lines[1:5]] == [
        "PCA (root + 1 sub-CA)", "1 own CA, KMS instance already in the account",
        "1 own CA, new pay-as-you-go software KMS instance", "1 own CA, new subscription software KMS instance"]
    assert "the fleet's choice now" in lines[1]
    r = runner.invoke(app, ["ca", "cost", "-f", str(ROOT / "examples" / "fleet.yaml"), "--json"])
    doc = json.loads(r.stdout)
    assert doc["holders"] == 20 and [c["choice"] for c in doc["choices"]] == list(costs.CHOICES)
    assert doc["prices"]["pca_root_month"]["usd"] == 760


def test_ca_cost_of_an_invalid_document_names_the_field(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"listeners": [{"load_balancer_id": "alb-x", "clients": []}]}))
    r = runner.invoke(app, ["ca", "cost", "-f", str(f), "--json"])
    assert r.exit_code == 2, r.output
    assert json.loads(r.stdout)["error"]["code"] == "INVALID_INPUT"
