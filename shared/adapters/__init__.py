"""Thin typed adapters over the official Alibaba Cloud SDKs, one per product (``alb``, ``cas``,
``pca``, ``alidns``, ``kms``, ``fnf``; the registry is ``shared.core.products``), plus the HTTPS/DNS
probe (``probe``), the client factory (``clients``) and the one retry layer (``retry``).

Each product adapter is a class over an SDK client and a call policy (``base.Adapter``): its
methods make their SDK call(s) through the policy (retry + deadline + rate limiter; SDK exceptions
come out mapped to :class:`~shared.core.errors.AlbMtlsError`), page through list calls
completely, and return small frozen dataclasses — never SDK models. A step gets one with
``ctx.adapter(Alb)``; anything else builds one with ``Alb(policy, client=…, settings=…)``. The SDK
model modules are imported inside the methods (cold start: nothing at import time).

Writes take ``client_token`` (ALB idempotency) and ``dry_run`` where the API has them; a passing
dry run (the API's ``DryRunOperation`` error) is returned as ``None`` instead of raised.
"""
