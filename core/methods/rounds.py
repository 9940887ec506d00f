"""GEPA's rounds of several proposals: how a round samples its (parent,
minibatch) pairs and which of its gated candidates it keeps.

A round is planned from one snapshot of the Pareto front (every parent is
drawn before any candidate of the round is scored) and its decisions are
applied in a fixed order, so a seed gives one result whatever order the
round's calls come back in.  The shapes are gepa 0.1.4's sampling and
selection strategies, written as a person types them:

    sampling   single | same-parent:N | independent:N | pxn:P,N
    selection  all | best | top:K

Every sampling is P parents × N minibatches each: ``single`` is 1×1,
``same-parent:N`` 1×N, ``independent:N`` N×1.  Plain data: nothing here calls
a model or knows the loop.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from reflectloop.core.types import Gate

SAMPLINGS = "single | same-parent:N | independent:N | pxn:P,N"
SELECTIONS = "all | best | top:K"


@dataclass(frozen=True)
class Sampling:
    """P parents per round, each with N minibatches of its own."""

    parents: int = 1
    per_parent: int = 1

    @property
    def size(self) -> int:
        """Proposals per round."""
        return self.parents * self.per_parent


def parse_sampling(text: str) -> Sampling:
    name, colon, args = text.strip().lower().partition(":")
    arity = {"single": 0, "same-parent": 1, "independent": 1, "pxn": 2}.get(name)
    parts = args.split(",") if args else []
    counts = [int(a) for a in parts] if all(a.strip().isdigit() for a in parts) else []
    if arity is None or bool(colon) != bool(arity) or len(counts) != arity:
        raise ValueError(f"GEPA sampling {text!r}: expected one of {SAMPLINGS}")
    if any(c < 1 for c in counts):
        raise ValueError(f"GEPA sampling {text!r}: its counts must be at least 1 ({SAMPLINGS})")
    if name == "same-parent":
        return Sampling(1, counts[0])
    if name == "independent":
        return Sampling(counts[0], 1)
    return Sampling(*counts)


def parse_selection(text: str) -> int | None:
    """How many passing candidates a round keeps: None for all, 1 for the best, K for top:K."""
    name, _, arg = text.strip().lower().partition(":")
    if name == "all" and not arg:
        return None
    if name == "best" and not arg:
        return 1
    if name == "top" and re.fullmatch(r"\d+", arg.strip()) and int(arg) >= 1:
        return int(arg)
    raise ValueError(f"GEPA selection {text!r}: expected one of {SELECTIONS} (K at least 1)")


def _passes(gate: Gate) -> bool:
    return gate.compared > 0 and gate.after > gate.before


def choose(gates: Sequence[Gate], keep: int | None, texts: Mapping[str, str]) -> tuple[list[Gate], list[Gate]]:
    """The round's gates with the selection applied (in plan order), and the
    kept ones in the order they join the pool: by improvement, the larger
    first, ties in plan order (``all``: plan order).  A passing candidate not
    kept says why; so does one whose text repeats a kept one's of this round
    (it would be the same prompt scored twice)."""
    passing = [g for g in gates if _passes(g)]
    if keep is not None:
        # sorted() is stable, so equal improvements keep their plan order (the package's too)
        passing = sorted(passing, key=lambda g: -(g.after - g.before))[:keep]
    rule = "all" if keep is None else "best" if keep == 1 else f"top:{keep}"
    kept: list[Gate] = []
    seen: dict[str, str] = {}
    drops: dict[str, str] = {}
    for g in passing:
        text = " ".join(texts.get(g.candidate_id, g.candidate_id).split())
        if text in seen:
            drops[g.candidate_id] = f"the same text as {seen[text]}, kept this round"
            continue
        seen[text] = g.candidate_id
        kept.append(g)
    names = {g.candidate_id for g in kept}
    for g in gates:
        if _passes(g) and g.candidate_id not in names and g.candidate_id not in drops:
            drops[g.candidate_id] = f"not among what selection {rule} keeps of this round"
    marked = [replace(g, dropped=drops[g.candidate_id]) if g.candidate_id in drops else g for g in gates]
    return marked, kept
