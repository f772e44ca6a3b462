"""The ActionTrail actions: parameters → ``models`` → SDK-shaped bodies."""
from __future__ import annotations

from typing import TYPE_CHECKING

from alibabacloud_actiontrail20200706 import models as m

from ...registry import Ctx, action, shape
from . import models
from .models import VERSION as V

if TYPE_CHECKING:
    from ...protocol import Params


@action("actiontrail", V, "LookupEvents")
def lookup_events(ctx: Ctx, p: Params) -> dict:
    return shape(m.LookupEventsResponseBody, models.lookup(
        ctx.cloud, start=p.str("StartTime"), end=p.str("EndTime"), attributes=p.raw.get("LookupAttribute"),
        max_results=p.int("MaxResults", min=0, max=models.MAX_RESULTS),
        next_token=p.str("NextToken"), direction=p.str("Direction", default="BACKWARD",
                                                       enum=("FORWARD", "BACKWARD"))))
