"""What a method is, as plain facts: how many errors it sees, how many
candidates it writes per parent and in how many samples, whether it writes
feedback.  Each method class owns its facts (one per protocol); the settings
resolve through the registry (``core.methods.facts_of``), so the TUI, the CLI and the loop read the
same numbers.

This module imports nothing of ``core.config``: ``core.config`` imports it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

PROTOCOLS = ("reflectloop", "study")


@dataclass(frozen=True)
class MethodFacts:
    errors: int  # error examples drawn per parent (0: the method never sees errors)
    per_parent: int  # candidate prompts per parent per step
    samples: int  # independent optimizer samples the candidates are drawn in
    reflects: bool = True  # False: no feedback text (APE, OPRO)
    fixes_errors: bool = False  # True: an explicit errors setting is refused

    @property
    def per_sample(self) -> int:
        """Candidates one sample asks for."""
        return math.ceil(self.per_parent / self.samples)


def split(per_parent: int, samples: int, one_per_sample: bool) -> tuple[int, int]:
    """(samples, candidates asked per sample) for ``per_parent`` candidates.

    A method whose sample is one candidate draws ``per_parent`` samples; one
    whose request asks for several (APO, PromptAgent) draws at most its
    default number of samples and spreads the candidates over them."""
    if one_per_sample:
        return per_parent, 1
    n = max(1, min(samples, per_parent))
    return n, math.ceil(per_parent / n)

