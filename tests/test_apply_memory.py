"""What apply shares and holds to stay in bounded memory (issue 14), and that sharing
changes nothing it sends or records: a state entry holds the plan's own spec object when
there is no ``{$ref}`` to fill in, the POST body is the plan's patch, nothing shared is
mutated, and writes are submitted a window at a time with every change still accounted for."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from helpers import resource
from test_apply import FakeClient, Saver

from declsync.execution import apply as apply_module
from declsync.execution.apply import Applier
from declsync.execution.outcome import Status
from declsync.plan import Action
from declsync.planning.planner import make_plan
from declsync.profile.model import default_profile

PROFILE = default_profile()


def orders(n: int) -> list[Any]:
    return [resource("Customer", "C", {"name": "Acme", "status": "NEW"}),
            resource("Location", "L", {"customerId": {"$ref": "Customer/C"}, "name": "DC",
                                       "isAppointmentRequired": True}),
            *(resource("Order", f"O-{i}", {"customer": {"key": "C"}, "externalNotes": f"order {i}",
                                           "stops": [{"type": "PICKUP", "location": {"key": "L"}}]})
              for i in range(n))]


def test_state_entries_share_the_plans_spec_and_nothing_shared_is_mutated() -> None:
    client, saver = FakeClient(), Saver()
    plan = make_plan(orders(20), {}, {}, PROFILE)
    before = copy.deepcopy([(c.patch, c.spec) for c in plan.changes])
    result = Applier(client, PROFILE, saver, parallelism=4).run(plan)
    assert result.ok
    # The plan is as it was: neither sending nor recording changed a shared dict.
    assert [(c.patch, c.spec) for c in plan.changes] == before
    for change in plan.changes:
        entry = saver.state.get(change.kind, change.key)
        assert entry is not None
        if change.kind == "Order":
            # No {$ref}: the entry holds the plan's spec itself (one copy in memory, not two).
            assert entry.spec is change.spec
        elif change.kind == "Location":
            # A {$ref} filled in: a resolved copy; the plan keeps its marker.
            assert entry.spec is not change.spec
            assert entry.spec["customerId"] == client.store[("Customer", "C")]["id"]
            assert change.spec["customerId"] == {"$ref": "Customer/C"}
    # What was sent is exactly each planned body, the {$ref} filled in.
    sent = {body["key"]: body for _, _, body in client.calls}
    for change in plan.changes:
        expected = change.patch
        if change.kind == "Location":
            expected = {**change.patch, "customerId": client.store[("Customer", "C")]["id"]}
        assert sent[change.key] == expected


def test_writes_are_submitted_a_window_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    most = 0
    submit = apply_module.Completions.submit

    def counting(self: Any, *args: Any) -> Any:
        nonlocal most
        fut = submit(self, *args)
        most = max(most, len(self.pending))
        return fut

    monkeypatch.setattr(apply_module.Completions, "submit", counting)
    client, saver = FakeClient(), Saver()
    applier = Applier(client, PROFILE, saver, parallelism=2)
    result = applier.run(make_plan(orders(200), {}, {}, PROFILE))
    assert result.ok and result.count(Status.APPLIED) == 202
    assert most <= applier.window < 200


def test_a_stop_with_writes_left_to_submit_accounts_for_every_change() -> None:
    client, saver = FakeClient(), Saver()
    seen: list[str] = []

    def fail_after_five(outcome: Any) -> None:
        seen.append(outcome.address)
        if len(seen) == 5:
            raise BrokenPipeError("reader went away")

    applier = Applier(client, PROFILE, saver, parallelism=2, on_outcome=fail_after_five)
    plan = make_plan(orders(200), {}, {}, PROFILE)
    result = applier.run(plan)
    assert result.interrupted and result.fatal is not None
    # One outcome per change, none lost: applied ones recorded, the rest not attempted.
    assert sorted(o.address for o in result.outcomes) == sorted(c.address for c in plan.changes)
    applied = {o.address for o in result.outcomes if o.status is Status.APPLIED}
    assert applied == {f"{e.kind}/{e.key}" for e in saver.state.entries()}
    assert {o.status for o in result.outcomes} <= {Status.APPLIED, Status.INTERRUPTED}
    # Only what was already submitted when it stopped was sent: the window, not the level.
    assert len(client.calls) <= 2 + 5 + applier.window
    assert all(c.action is Action.CREATE for c in plan.changes)
