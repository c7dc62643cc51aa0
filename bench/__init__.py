"""Benchmarks: one script per figure, each printing its figure last (STYLE.md)."""
