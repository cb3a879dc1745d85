"""Execution: apply a plan exactly (dependency levels, stale checks, signals, recovery of unsaved state)."""
