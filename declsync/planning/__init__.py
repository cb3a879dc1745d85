"""Planning: the pure three-way planner and what it needs (references, prune, selection, merge patch, masking)."""
