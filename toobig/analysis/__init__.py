"""Across runs: a sweep's summary (sweep_summary) and the held-out errors (wrong_answers)."""
