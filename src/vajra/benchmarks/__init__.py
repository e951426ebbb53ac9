"""Benchmarks behind `vajra bench ...`: each prints one JSON object and records it."""
