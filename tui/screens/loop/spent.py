"""What a session's models had spent before this sitting, from its call
records: the status bar adds it to the live counters, which start at 0
whenever a run is opened."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spent:
    tokens: int = 0
    calls: int = 0
    cost: float = 0.0


def session_spent(calls) -> dict[str, Spent]:
    """Role -> tokens, calls and cost of ``calls`` (``CallRecord``s), counted
    as the models count them: successful provider calls, cache hits excluded."""
    totals: dict[str, Spent] = {}
    for c in calls:
        if c.usage is None or c.cached or c.error is not None:
            continue
        t = totals.get(c.role, Spent())
        totals[c.role] = Spent(t.tokens + c.usage.prompt_tokens + c.usage.completion_tokens, t.calls + 1,
                               t.cost + c.cost)
    return totals
