"""declsync as a library: plan, review, apply from your own Python job.

    python examples/library.py manifests            # plan and ask
    python examples/library.py manifests --yes      # plan and apply

The API comes from DECLSYNC_API_URL and DECLSYNC_TOKEN (unset: the embedded sandbox).
"""

import os
import sys

import declsync

paths = [a for a in sys.argv[1:] if a != "--yes"] or ["manifests"]
api = {"api_url": os.environ.get("DECLSYNC_API_URL"), "token": os.environ.get("DECLSYNC_TOKEN")}

plan = declsync.plan(paths, **api)                                            # read-only
print(declsync.render_text(plan), end="")                                     # review: what would change
deletes = [c.address for c in plan.changes if c.action == "delete"]
if deletes:                                                                   # your own policy
    sys.exit(f"refusing: this job never deletes ({', '.join(deletes)})")
if plan.has_changes and ("--yes" in sys.argv or input("Apply? [yes/no] ") == "yes"):
    result = declsync.apply(plan, **api)                                      # stale-checked, exact
    print(result.summary())
    sys.exit(0 if result.ok else 1)
