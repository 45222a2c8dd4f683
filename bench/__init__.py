"""Benchmarks for zeptui's store (run `python -m bench.bench_store --help`)."""
