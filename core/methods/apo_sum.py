"""APO-Sum: one call per sample analyses every error, groups the causes into
categories, suggests fixes and slightly revises the prompt."""
from __future__ import annotations

from reflectloop.core.methods.facts import MethodFacts
from reflectloop.core.methods.one_call import OneCallMethod


class APOSum(OneCallMethod):
    name = "apo-sum"
    defaults = MethodFacts(errors=4, per_parent=2, samples=2)
    # As released: one combined request per parent with n=4 (AutoPrompter.py:106,540,547-576).
    released_defaults = MethodFacts(errors=4, per_parent=4, samples=4)
    combined = "apo_sum"
    revise = "apo_sum_revise"
