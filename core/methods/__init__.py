"""The optimization methods by name (the study's seven, and GEPA): the registry
every other layer reads a method's facts from."""
from __future__ import annotations

from reflectloop.core.methods.abo import ABO, ABOAblation
from reflectloop.core.methods.ape import IterativeAPE
from reflectloop.core.methods.apo import APO
from reflectloop.core.methods.apo_sum import APOSum
from reflectloop.core.methods.base import Method, StepContext
from reflectloop.core.methods.parsing import Draft
from reflectloop.core.methods.facts import MethodFacts
from reflectloop.core.methods.gepa import GEPA
from reflectloop.core.methods.opro import OPRO
from reflectloop.core.methods.promptagent import PromptAgent
from reflectloop.core.evaluation.scoring import PROTOCOLS

METHODS: dict[str, type[Method]] = {
    m.name: m for m in (IterativeAPE, APO, APOSum, PromptAgent, OPRO, ABO, ABOAblation, GEPA)
}


def method_class(name: str) -> type[Method]:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(METHODS)})") from None


def facts_of(name: str, protocol: str = "reflectloop", sampling: str | None = None) -> MethodFacts:
    """The defaults of method ``name`` under ``protocol`` (and the study's ``sampling``; unset: its default)."""
    return method_class(name).facts(protocol, sampling)


def method_options() -> dict[str, type]:
    """Each method's own settings dataclass, by the prefix of its settings
    (the method's name, ``-`` as ``_``): only a class that declares one."""
    return {name.replace("-", "_"): cls.options_class for name, cls in METHODS.items()
            if "options_class" in cls.__dict__ and cls.options_class is not None}


def make_method(name: str, optimizer, task, config) -> Method:
    return method_class(name)(optimizer, task, config)


__all__ = ["METHODS", "PROTOCOLS", "Draft", "Method", "MethodFacts", "StepContext", "facts_of", "make_method", "method_class",
           "method_options"]
