"""What a method is, as plain facts: how many errors it sees, how many
candidates it writes per parent and in how many samples, whether it writes
feedback.  Each method class owns its facts (one per protocol); the settings
resolve through the registry (``core.methods.facts_of``), so the TUI, the CLI and the loop read the
same numbers.

A method's own settings (GEPA's iterations, OPRO's history) are a dataclass
of ``setting`` fields the method class names as its ``options_class``; the
settings model (``core.settings.config``) reads them from the registry, so the flags,
config-file keys and stored sessions name them ``<method>_<field>``.

This module imports nothing of ``core.settings.config``: ``core.settings.config`` imports it.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any


# How the optimizer's samples are drawn under ``--protocol study`` (``--sampling``):
# released: one request per parent with ``n`` choices, the counts the study's
# released code runs (n=4, ABO 2); intended: one request per sample, the counts
# of the study's arguments (2 per parent).  docs/fidelity.md, *Samples per
# request*, says why released is the default.
SAMPLINGS = ("released", "intended")
STUDY_SAMPLING = "released"


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



def setting(default: Any, help: str, *, minimum: int | None = None) -> Any:
    """A field of a settings dataclass: its default and one-line help (the
    command line's flags are generated from it); ``minimum``: the least
    value it accepts when set."""
    metadata: dict[str, Any] = {"help": help}
    if minimum is not None:
        metadata["minimum"] = minimum
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class StepCalls:
    """What one step after step 0 asks of the models, as a method counts it."""

    optimizer: int  # optimizer calls
    target: int  # target calls scoring the step's candidates (the test set aside)
    choices: int = 1  # answers per optimizer call (released sampling: each request's n)
