"""The benchmark, outside the product: ``python -m scripts.bench`` (see ``__main__``, BENCHMARKS.md)."""
