"""The AI spend report's figures, folded from rows any backend reads.

A backend reads one row per (group, latency_ms) with the sums of that bucket and hands each to
:meth:`ReportBuilder.add`. Each group (and ``total``) then has ``calls``, ``errors`` (status
``error``), the sums ``input_tokens``, ``cached_input_tokens``, ``output_tokens``,
``reasoning_tokens``, ``total_tokens`` (NULL counts as 0), ``cost_usd`` (the sum over the rows
that have a cost, rounded to 1e-9; **None** when no row of the group has one, never a 0 for
calls whose cost is unknown), ``unpriced_calls`` (rows whose ``cost_usd`` is NULL: no price
for the model, or a call that failed without reporting usage) and ``latency_p50_ms`` /
``latency_p95_ms``: nearest-rank percentiles over every call in the group with a latency
(successes and errors alike): with the latencies sorted ascending ``v[1..n]``,
``Pp = v[ceil(p / 100 * n)]``; None when no call has a latency. Groups are ordered by cost
(groups without a cost last), then calls, descending; a NULL group is ``unattributed``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from db.vocab import SPEND_SUMS

UNATTRIBUTED = "unattributed"
NO_CLIENT = "no client"  # the spend group of calls without a client
# The spend sums but the cost, which is summed apart (None when no row has one).
SUMMED = tuple(name for name in SPEND_SUMS if name != "cost_usd")


def nearest_rank(histogram: dict[int, int], percent: float) -> int | None:
    """The nearest-rank percentile of a ``{value: count}`` histogram (None when empty)."""
    n = sum(histogram.values())
    if n == 0:
        return None
    rank = max(1, math.ceil(percent / 100 * n))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable")


def _empty_group(name: str) -> dict[str, Any]:
    group: dict[str, Any] = {"group": name}
    group.update(dict.fromkeys(SUMMED, 0))
    group["cost_usd"] = None
    return group


class ReportBuilder:
    """Accumulates ``(group, latency_ms, calls, errors, 5 token sums, cost, unpriced)`` rows."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Any]] = {}
        self.histograms: dict[str, dict[int, int]] = defaultdict(dict)
        self.total = _empty_group("total")
        self.total_histogram: dict[int, int] = defaultdict(int)

    def add(self, grp: str | None, latency: int | None, calls: int, *rest: Any) -> None:
        *sums, cost, unpriced = rest
        name = UNATTRIBUTED if grp is None else grp
        group = self.groups.get(name) or self.groups.setdefault(name, _empty_group(name))
        values = (calls, *sums, unpriced)
        for target in (group, self.total):
            for key, value in zip(SUMMED, values, strict=True):
                target[key] += value or 0
            if cost is not None:  # SUM over rows that all lack a cost is NULL
                target["cost_usd"] = (target["cost_usd"] or 0.0) + cost
        if latency is not None:
            histogram = self.histograms[name]
            histogram[latency] = histogram.get(latency, 0) + calls
            self.total_histogram[latency] += calls

    def result(self, by: str, since: str | None) -> dict[str, Any]:
        for name, group in self.groups.items():
            _finish(group, self.histograms.get(name, {}))
        _finish(self.total, self.total_histogram)
        ordered = sorted(
            self.groups.values(),
            key=lambda g: (g["cost_usd"] is None, -(g["cost_usd"] or 0.0), -g["calls"], g["group"]),
        )
        return {"by": by, "since": since, "groups": ordered, "total": self.total}


def _finish(group: dict[str, Any], histogram: dict[int, int]) -> None:
    if group["cost_usd"] is not None:
        group["cost_usd"] = round(group["cost_usd"], 9)
    group["latency_p50_ms"] = nearest_rank(histogram, 50)
    group["latency_p95_ms"] = nearest_rank(histogram, 95)
