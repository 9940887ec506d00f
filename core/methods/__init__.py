"""The optimization methods of the study's unified setting, by name."""
from __future__ import annotations

from core.config import METHOD_DEFAULTS
from core.methods.abo import ABO, ABOAblation
from core.methods.ape import IterativeAPE
from core.methods.apo import APO
from core.methods.apo_sum import APOSum
from core.methods.opro import OPRO
from core.methods.promptagent import PromptAgent
from core.methods.base import Draft, Method, StepContext

METHODS: dict[str, type[Method]] = {m.name: m for m in (IterativeAPE, APO, APOSum, PromptAgent, OPRO, ABO, ABOAblation)}


def make_method(name: str, optimizer, task, config) -> Method:
    try:
        cls = METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(METHODS)})") from None
    return cls(optimizer, task, config)


__all__ = ["METHODS", "METHOD_DEFAULTS", "Draft", "Method", "StepContext", "make_method"]
