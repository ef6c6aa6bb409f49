"""Operators' and benchmarks' scripts; not installed with the product."""
