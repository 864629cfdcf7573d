"""Benchmarks of the v2 engine: `make bench` (python -m bench.run)."""
