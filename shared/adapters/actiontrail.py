"""ActionTrail adapter (``alibabacloud_actiontrail20200706``, API ``2020-07-06``): ``LookupEvents``.

The rotation scan reads the ``GetSecretValue`` events of the last days with it, once per run, to see
a system holder's first read of its new secrets (``shared.steps.reads``, docs/DELIVERY.md). Facts
(the API reference alibabacloud.com/help/en/actiontrail/developer-reference/
api-actiontrail-2020-07-06-lookupevents and the SDK model): ``StartTime``/``EndTime`` ISO 8601 UTC
``YYYY-MM-DDThh:mm:ssZ``; ``MaxResults`` 0-50; ``LookupAttribute.N`` {``Key``, ``Value``}; the
``Events`` array (event JSON objects) and ``NextToken`` while more follow (the other parameters
unchanged); at most two calls per second (the product registry's limiter keeps to it). RAM action
``actiontrail:LookupEvents``.

Every call goes through the call policy (the one retry layer). Errors come out as
:class:`~shared.core.errors.AlbMtlsError` / ``TransientError``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.adapters.base import Adapter

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

__all__ = ["ActionTrail", "Page"]


def _iso(t: datetime) -> str:
    from datetime import UTC
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Page:
    """One ``LookupEvents`` answer: ``events`` (dicts as the API gives them) and ``next_token``."""

    __slots__ = ("events", "next_token")

    def __init__(self, events: list[dict[str, Any]], next_token: str | None) -> None:
        self.events, self.next_token = events, next_token


class ActionTrail(Adapter):
    """ActionTrail 2020-07-06 (module doc)."""

    product = "actiontrail"

    def lookup_events(self, *, start: datetime, end: datetime, attributes: tuple[tuple[str, str], ...] = (),
                      max_results: int = 50, next_token: str | None = None) -> Page:
        """One ``LookupEvents`` page. Raises ``AlbMtlsError`` or ``TransientError``."""
        from alibabacloud_actiontrail20200706 import models as m
        req = m.LookupEventsRequest(
            start_time=_iso(start), end_time=_iso(end), max_results=str(max_results), next_token=next_token,
            lookup_attribute=[m.LookupEventsRequestLookupAttribute(key=k, value=v) for k, v in attributes] or None)
        body = self.call("actiontrail:LookupEvents", lambda: self.client.lookup_events(req)).body
        events = [e for e in (body.events or []) if isinstance(e, dict)]
        return Page(events, body.next_token or None)

    def iter_events(self, *, start: datetime, end: datetime, attributes: tuple[tuple[str, str], ...] = (),
                    page_size: int = 50, max_pages: int = 20) -> Iterator[Page]:
        """The pages of one query, at most ``max_pages`` (the caller sees whether the last one had
        a ``next_token``: more events than it read)."""
        token: str | None = None
        for _ in range(max_pages):
            page = self.lookup_events(start=start, end=end, attributes=attributes, max_results=page_size,
                                      next_token=token)
            yield page
            token = page.next_token
            if not token:
                return
