"""Secrets out of plan documents: the JSON view and the saved plan file alike.

Apply acts on some fields exactly (``_EXACT``): those are never redacted, and a plan in
which they hold a registered secret is refused rather than written. Every other field is
display and has its secrets redacted.
"""

from __future__ import annotations

from typing import Any

from declsync import scrub
from declsync.errors import ConfigError

__all__ = ["SecretInPlanError", "redact_change", "redact_head", "redact_plan_document"]


class SecretInPlanError(ConfigError):
    """The fields apply sends or targets hold a credential: the plan is not written out."""


# Apply acts on these exactly: they are never redacted, and a plan in which they
# hold a secret is refused instead.
_EXACT = ("kind", "key", "id", "patch", "spec", "previous_key", "depends_on", "observed_updated_at")


def redact_plan_document(doc: dict[str, Any]) -> dict[str, Any]:
    if not scrub.DEFAULT.contains_secret(doc):  # one scan of the whole plan, the usual case
        return doc
    changes = [redact_change(change) for change in doc["changes"]]
    return {**redact_head(doc), "changes": changes}


def redact_change(change: dict[str, Any]) -> dict[str, Any]:
    """One change of a plan document, its display fields redacted; ``SecretInPlanError`` when
    a field apply acts on holds a secret. A streamed document calls this per change."""
    if not scrub.DEFAULT.contains_secret(change):
        return change
    exact = {k: change[k] for k in _EXACT if k in change}
    if scrub.DEFAULT.contains_secret(exact):
        raise SecretInPlanError(
            f"{scrub.redact(str(change.get('kind')))}/{scrub.redact(str(change.get('key')))}: the planned "
            "change holds the API token or client secret (in its key, patch or spec); declsync does not write "
            "credentials into a plan. Remove it from the manifest (or mark the field sensitive and apply "
            "without a saved plan)"
        )
    shown = scrub.redact_value({k: v for k, v in change.items() if k not in exact})
    return {k: exact[k] if k in exact else shown[k] for k in change}


def redact_head(doc: dict[str, Any]) -> dict[str, Any]:
    """A plan document's fields other than its changes (which it keeps as they are), redacted;
    ``SecretInPlanError`` when an entry the plan forgets holds a secret."""
    if scrub.DEFAULT.contains_secret(doc.get("forget", [])):
        raise SecretInPlanError("a state entry the plan forgets holds the API token or client secret in its key; "
                                "declsync does not write credentials into a plan")
    return {**doc, "notes": scrub.redact_value(doc.get("notes", [])),
            "target": scrub.redact(str(doc.get("target", "")))}
