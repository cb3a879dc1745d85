"""The saved plan file: a versioned encoding of a ``Plan``, apart from any display.

``render_json`` is a *view* (what ``plan --format json`` prints) and may change with
display needs; this module is the *file* that ``plan --out`` writes and ``apply FILE``
reads, and it changes only with a new ``format_version``:

==============  ===========================================================================
format_version  what changed
==============  ===========================================================================
1               declsync 0.1.0: the file was the JSON view (``summary``, per-change ``drift``)
2               its own format: ``format: declsync-plan`` marker, ``declsync_version``; the
                derived ``summary`` and ``drift`` left out (they follow from the changes)
3               the ``replace`` action (``--replace``: delete, then create); nothing else
==============  ===========================================================================

Reading migrates any earlier version step by step (``_MIGRATIONS``), then checks the
whole document against the schema shipped in the package (``schemas/plan.schema.json``:
types, required fields, known actions) and the rules a schema cannot say (an update
needs an id). Every refusal is a ``PlanFileError`` naming the place, e.g.
``changes[3].action: "destroy" is not one of create, update, noop, delete``.

Display values of sensitive fields are masked in the file (``patch`` and ``spec`` keep
what apply must send and record).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

from declsync import __version__, scrub
from declsync.errors import PlanFileError
from declsync.plan import Action, Change, FieldChange, Plan, Reason
from declsync.planfile.jsonshape import ShapeError, check, describe
from declsync.planfile.redact import redact_change, redact_head, redact_plan_document
from declsync.planfile.stream import dump_streamed
from declsync.planning.sensitive import mask_change
from declsync.state.atomic import replace_file

__all__ = ["FILE_FORMAT", "FORMAT_VERSION", "decode", "dumps", "encode", "loads", "read", "schema", "write"]

FILE_FORMAT = "declsync-plan"
FORMAT_VERSION = 3
# Changes apply refuses to run without an id: it would not know which resource to write.
_NEEDS_ID = (Action.UPDATE, Action.DELETE, Action.REPLACE)


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the current ``format_version``, as shipped in the package."""
    text = resources.files("declsync").joinpath("schemas/plan.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


# ---------------------------------------------------------------- encoding


def _field_change(fc: FieldChange) -> dict[str, Any]:
    out: dict[str, Any] = {"path": fc.path, "before": fc.before, "after": fc.after, "reason": fc.reason}
    if fc.drift:
        out["drift"] = True
    if fc.details:
        out["details"] = list(fc.details)
    return out


def _change(c: Change) -> dict[str, Any]:
    return {
        "action": c.action.value, "kind": c.kind, "key": c.key, "id": c.id,
        "patch": c.patch, "before": c.before, "after": c.after, "source": c.source, "spec": c.spec,
        "warnings": list(c.warnings), "field_changes": [_field_change(fc) for fc in c.field_changes],
        "json_patch": list(c.json_patch), "observed_updated_at": c.observed_updated_at,
        "depends_on": list(c.depends_on), "sensitive": list(c.sensitive),
        "previous_key": c.previous_key, "prevent_destroy": c.prevent_destroy,
    }


def encode(plan: Plan) -> dict[str, Any]:
    """The file document of ``plan`` (sensitive display values masked)."""
    return {**_head(plan), "changes": [_change(mask_change(c)) for c in plan.changes]}


def _head(plan: Plan) -> dict[str, Any]:
    """The file document without its changes (``changes`` empty, in its place)."""
    return {
        "format": FILE_FORMAT,
        "format_version": FORMAT_VERSION,
        "declsync_version": __version__,
        "target": plan.target,
        "profile": plan.profile,
        "state": {"lineage": plan.state_lineage, "serial": plan.state_serial},
        "created_at": plan.created_at,
        "notes": list(plan.notes),
        "forget": list(plan.forget),
        "changes": [],
    }


def _document(plan: Plan) -> dict[str, Any]:
    doc = encode(plan)
    if scrub.DEFAULT.active:
        # The same rule as the JSON view: secrets redacted from display fields, and a plan
        # whose exact fields (key, patch, spec, ...) hold one is refused, never written.
        doc = redact_plan_document(doc)
    return doc


def dumps(plan: Plan) -> str:
    return json.dumps(_document(plan), indent=2, ensure_ascii=False, default=str) + "\n"


def write(plan: Plan, path: str | Path) -> None:
    """Write ``plan`` to ``path`` atomically (a temp file renamed over it: never half a plan)."""
    head = _head(plan)

    def changes() -> Iterator[dict[str, Any]]:
        return (_change(mask_change(c)) for c in plan.changes)

    docs = changes()
    if scrub.DEFAULT.active:
        # The same rule as dumps(): refused (secret in an exact field) before a byte is written.
        for doc in changes():
            redact_change(doc)
        head = redact_head(head)
        docs = (redact_change(doc) for doc in changes())

    def stream(fh: BinaryIO) -> None:
        # The same bytes as dumps(), a change at a time: neither the text nor the document of
        # 100,000 changes is ever whole in memory.
        text = io.TextIOWrapper(fh, encoding="utf-8")
        dump_streamed(head, docs, text.write)
        text.flush()
        text.detach()  # leave fh open: replace_file syncs and closes it

    replace_file(Path(path), stream)


# ---------------------------------------------------------------- migrations


def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 1 was the JSON view: drop its derived fields, add the marker."""
    out = {k: v for k, v in doc.items() if k != "summary"}
    changes = out.get("changes")
    if isinstance(changes, list):
        out["changes"] = [{k: v for k, v in c.items() if k != "drift"} if isinstance(c, dict) else c
                          for c in changes]
    return {"format": FILE_FORMAT, **out, "format_version": 2, "declsync_version": "0.1.0"}


def _v2_to_v3(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 3 only added an action: a version 2 plan reads as it is."""
    return {**doc, "format_version": 3}


# From version N to N+1; reading applies them in turn.
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3}


def _migrated(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ShapeError("", f"expected a JSON object, found {describe(doc)}")
    version = doc.get("format_version")
    if "format_version" not in doc:
        raise ShapeError("", "required field 'format_version' is missing")
    if isinstance(version, bool) or not isinstance(version, int | float) or version < 1 or version % 1:
        raise ShapeError("format_version", f"expected a positive integer, found {describe(version)}")
    version = int(version)
    if version > FORMAT_VERSION:
        raise ShapeError("format_version", f"{version} is newer than this declsync ({__version__}) reads "
                                           f"(1 to {FORMAT_VERSION}); upgrade declsync, or re-run plan with this one")
    current: dict[str, Any] = doc
    while version < FORMAT_VERSION:
        current = _MIGRATIONS[version](current)
        version += 1
    return current


# ---------------------------------------------------------------- decoding


def _check_rules(doc: Mapping[str, Any]) -> None:
    """What the schema cannot say."""
    for i, c in enumerate(doc["changes"]):
        action = Action(c["action"])
        if action in _NEEDS_ID and not c["id"]:
            raise ShapeError(f"changes[{i}].id", f"a planned {action.value} needs the id of the resource it writes")
        if action in (Action.CREATE, Action.REPLACE) and c["patch"] is None:
            raise ShapeError(f"changes[{i}].patch", f"a planned {action.value} needs the body it sends")
        if action is Action.UPDATE and c["patch"] is None:
            raise ShapeError(f"changes[{i}].patch", "a planned update needs the patch it sends")


def _to_plan(doc: Mapping[str, Any]) -> Plan:
    changes = tuple(
        Change(
            action=Action(c["action"]), kind=c["kind"], key=c["key"], source=c["source"], id=c["id"],
            patch=c["patch"], before=c["before"], after=c["after"], spec=dict(c["spec"]),
            warnings=tuple(c["warnings"]),
            field_changes=tuple(
                FieldChange(path=f["path"], before=f["before"], after=f["after"], reason=Reason(f["reason"]),
                            drift=f.get("drift", False), details=tuple(f.get("details", ())))
                for f in c["field_changes"]
            ),
            json_patch=tuple(c["json_patch"]), observed_updated_at=c["observed_updated_at"],
            depends_on=tuple(c["depends_on"]), sensitive=tuple(c["sensitive"]),
            previous_key=c["previous_key"], prevent_destroy=c["prevent_destroy"],
        )
        for c in doc["changes"]
    )
    return Plan(
        changes=changes, target=doc["target"], profile=doc["profile"], state_lineage=doc["state"]["lineage"],
        state_serial=int(doc["state"]["serial"]), created_at=doc["created_at"], notes=tuple(doc["notes"]),
        forget=tuple(doc["forget"]),
    )


def decode(doc: Any, source: str = "plan") -> Plan:
    """The ``Plan`` in a parsed plan document of any known ``format_version``.
    ``PlanFileError`` (naming ``source`` and the place) when it is not a valid plan."""
    try:
        current = _migrated(doc)
        check(current, schema())
        _check_rules(current)
    except ShapeError as exc:
        raise PlanFileError(source, exc.problem, location=exc.location) from None
    return _to_plan(current)


def loads(text: str, source: str = "plan") -> Plan:
    try:
        doc = json.loads(text)
    except RecursionError:
        raise PlanFileError(source, "nested too deeply to be a plan") from None
    except ValueError as exc:
        raise PlanFileError(source, f"not valid JSON: {exc}") from None
    return decode(doc, source)


def read(path: str | Path) -> Plan:
    """The plan saved in ``path`` (see ``decode``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(str(path), f"cannot read it: {getattr(exc, 'strerror', None) or exc}") from None
    return loads(text, str(path))
