"""Render: the human and machine views of a plan (text, JSON, markdown) and progress on stderr."""
