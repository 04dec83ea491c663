"""Benchmarks: each module has main() -> int and prints a table with a baseline beside it."""
