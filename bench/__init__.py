"""Benchmarks for mcp-browsa: `python -m bench [foundation|…]` prints a table and writes JSON."""
