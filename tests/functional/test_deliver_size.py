"""The provision flow's ``Deliver`` result is flow state (CloudFlow: 64 KiB): with 1,000 clients it
listed every one (``no_holder`` included) — 127,106 bytes, and the first issue of 1,000 holders
failed with ``FnF.DataLimitExceeded`` after everything was issued. Clients without a holder are
counted, the deliveries listed are bounded (``DELIVERIES_MAX``)."""
from __future__ import annotations

import json


def test_a_thousand_clients_deliver_within_the_state_limit(live_cloud, invoke, demo_input):
    inp = dict(demo_input)
    holder = {"kind": "person", "name": "Holder", "email": "holder@example.test"}
    inp["clients"] = [{"common_name": f"holder-{i:04d}", **({"holder": holder} if i < 80 else {})}
                      for i in range(1000)]
    res = invoke("albmtls-deliver", {"mode": "provision", "input": inp, "execution_name": "size-1"})
    assert res["status"] == "ok", res
    assert len(json.dumps(res, separators=(",", ":"))) < 32 * 1024
    # none has a certificate yet (nothing was issued here): every client is counted, none listed
    assert res["counts"] == {"no_holder": 1000} and res["deliveries"] == []
