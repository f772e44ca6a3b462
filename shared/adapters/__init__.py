"""Thin typed adapters over the official Alibaba Cloud SDKs.

One module per product (``alb``, ``cas``, …). Every function takes the step's
:class:`~shared.entry.handler.StepContext` first, makes its SDK call(s) through ``ctx.call`` (the one
retry layer and rate limiter; SDK exceptions come out mapped to :class:`~shared.core.errors.AlbMtlsError`),
pages through list calls completely, and returns small frozen dataclasses — never SDK models.
The SDK model modules are imported inside the functions (cold start: nothing at import time).

Writes take ``client_token`` (ALB idempotency) and ``dry_run`` where the API has them; a passing
dry run (the API's ``DryRunOperation`` error) is returned as ``None`` instead of raised.
"""
