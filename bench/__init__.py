"""Benchmarks (not tests) and the fake LLM endpoint they and the tests share."""
