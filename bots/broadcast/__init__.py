"""Broadcast delivery: the worker, its per-platform lanes, the rate limiter, progress messages."""
