"""A schemathesis check for the sandbox, loaded by ``test_schemathesis.py`` (SCHEMATHESIS_HOOKS).

``sandbox_accepts_schema_valid_data`` replaces schemathesis's ``positive_data_acceptance``
(ST202). That check wants every schema-valid request accepted, but a schema cannot say that
a request depends on state: a stale ``If-Match`` (412), an ``Idempotency-Key`` already used
for another request (422), a reference to a resource that does not exist, or a ``cursor``
the server never issued (400). This check allows exactly those, each recognised by its
cause (the header sent, the error code, every 400 detail), and fails on anything else, so a
schema-valid body the server refuses for its shape still fails the run.
"""

from __future__ import annotations

from typing import Any

import schemathesis

# The statuses schemathesis's own check accepts for schema-valid data.
ACCEPTED = frozenset({401, 403, 404, 409, 429})


def _body(response: schemathesis.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _state_detail(detail: Any) -> bool:
    """A 400 detail that depends on the data stored, not on the request's shape."""
    if not isinstance(detail, dict):
        return False
    message = str(detail.get("message", ""))
    return message.startswith("References must exist") or detail.get("field") == "cursor"


def _sent(case: schemathesis.Case[Any], header: str) -> bool:
    return any(name.lower() == header.lower() for name in (case.headers or {}))


def _state_dependent(case: schemathesis.Case[Any], status: int, body: dict[str, Any]) -> bool:
    if status == 412:
        return _sent(case, "If-Match") and body.get("error") == "precondition_failed"
    if status == 422 and body.get("error") != "validation_error":
        return _sent(case, "Idempotency-Key") and body.get("error") == "idempotency_key_reused"
    if status in (400, 422):  # 422: the validation status of customers, as the contract says
        details = body.get("details")
        return (
            body.get("error") == "validation_error" and isinstance(details, list) and bool(details)
            and all(_state_detail(d) for d in details)
        )
    return False


@schemathesis.check
def sandbox_accepts_schema_valid_data(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    # 5xx is not_a_server_error's to report; here only a refusal of valid data counts.
    if status < 400 or status >= 500 or status in ACCEPTED:
        return None
    body = _body(response)
    if _state_dependent(case, status, body):
        return None
    raise AssertionError(f"Schema-valid data refused with {status}: {response.text[:500]}")
