"""The STS (2015-04-01) actions: ``GetCallerIdentity``."""
from __future__ import annotations

from typing import TYPE_CHECKING

from alibabacloud_sts20150401 import models as m

from ...registry import Ctx, action, shape
from . import models
from .models import VERSION as V

if TYPE_CHECKING:
    from ...protocol import Params


@action("sts", V, "GetCallerIdentity")
def get_caller_identity(ctx: Ctx, p: Params) -> dict:
    return shape(m.GetCallerIdentityResponseBody, models.caller_identity(ctx.store, ctx.access_key_id or ""))
