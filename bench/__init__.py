"""Benchmarks (``make bench``): indicator math vs TA-Lib, streaming per-update cost, backfill bars/s.

They report wall times measured once on whatever machine runs them; nothing here gates correctness.
"""
