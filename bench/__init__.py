"""Benchmarks (not tests): each prints its figures as `NAME: VALUE` lines, ratios against a
baseline measured in the same run."""
