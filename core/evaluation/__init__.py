"""Evaluating prompts: the target's requests, scoring its answers, evaluating over examples."""
