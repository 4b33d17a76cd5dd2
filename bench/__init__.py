"""Benchmark harness for `make bench` (issue 7); never imported by the product."""
