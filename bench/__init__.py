"""Benchmarks of the service layer against plain SQL; run with `make bench`."""
