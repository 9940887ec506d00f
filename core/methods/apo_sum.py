"""APO-Sum: one call per sample analyses every error, groups the causes into
categories, suggests fixes and slightly revises the prompt."""
from __future__ import annotations

from reflectloop.core.methods.facts import MethodFacts
from reflectloop.core.methods.one_call import OneCallMethod


class APOSum(OneCallMethod):
    name = "apo-sum"
    defaults = MethodFacts(errors=4, per_parent=2, samples=2)
    combined = "apo_sum"
    revise = "apo_sum_revise"
