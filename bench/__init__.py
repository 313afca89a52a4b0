"""Benchmarks: a dataset generator at realistic scale, a raw-SQL baseline server and a
runner that drives both over HTTP and reports throughput ratios (see bench/README.md)."""
