"""The conformance suite every state backend runs (like Terraform's statemgr ``TestFull``).

A backend's test module subclasses ``Conformance`` and provides the ``url`` fixture: a
``--state`` value naming a fresh, empty state. Each test opens the backend through
``open_backend(url)`` (several times where it plays several processes), so what is
checked is what the CLI gets: round trips, serial and lineage, atomic saves, lock
exclusion and waiting, crash consistency after SIGKILL, concurrent writers, migrate.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from declsync.errors import StateError, StateLockError
from declsync.state import State, StateBackend, StateEntry, open_backend


def entry(kind: str, key: str, **spec: Any) -> StateEntry:
    return StateEntry(kind=kind, key=key, id=f"id-{kind}-{key}", spec=spec or {"name": key},
                      updated_at="2025-01-01T00:00:00Z", applied_at="2025-01-02T00:00:00Z", source="m/a.yaml:3")


# Saves generation g of KEYS (spec {"g": g}) until killed; prints each generation saved.
_WRITER = textwrap.dedent("""
    import sys
    from declsync.state import StateEntry, open_backend
    backend = open_backend(sys.argv[1])
    keys = [f"K{i:03d}" for i in range(int(sys.argv[2]))]
    with backend.locked(operation="crash-test") as session:
        session.lock({("Order", k) for k in keys})
        g = 0
        while True:
            g += 1
            for k in keys:
                session.state.put(StateEntry(kind="Order", key=k, id="id-" + k, spec={"g": g, "pad": "x" * 200}))
            session.save()
            print(g, flush=True)
""")


def _fresh(url: str) -> str:
    """Another new state beside ``url`` (one per Hypothesis example)."""
    tag = uuid.uuid4().hex[:10]
    if "://" in url:
        return re.sub(r"workspace=[^&]*", f"workspace=h{tag}", url)
    return f"{url}.{tag}.json"


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False,
                     allow_infinity=False) | _TEXT,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
                     max_leaves=8)


class Conformance:
    """Subclass with a ``url`` fixture returning a fresh state's ``--state`` value."""

    def backend(self, url: str) -> StateBackend:
        return open_backend(url)

    # ------------------------------------------------------------ data

    def test_a_new_state_is_empty(self, url: str) -> None:
        backend = self.backend(url)
        state = backend.read()
        assert len(state) == 0 and state.serial == 0 and state.lineage == ""
        assert backend.lineage() == "" and list(backend.list()) == []

    def test_round_trip_serial_lineage_list(self, url: str) -> None:
        backend = self.backend(url)
        written = [entry("Order", "b", status="draft", freight={"weight": 1500.5, "n": [1, None, "ü"]}),
                   entry("Customer", "z", name="Zed Ünïcode \u2028"),
                   StateEntry(kind="Order", key="a", id="1", spec={}, prevent_destroy=True)]
        with backend.locked() as session:
            session.lock({(e.kind, e.key) for e in written})
            for e in written:
                session.state.put(e)
            session.save()
            lineage = session.state.lineage
            assert session.state.serial == 1 and len(lineage) == 36
        again = self.backend(url)
        state = again.read()
        assert sorted(state.entries(), key=lambda e: (e.kind, e.key)) == sorted(written, key=lambda e: (e.kind, e.key))
        assert state.serial == 1 and state.lineage == lineage == again.lineage()
        assert [(e.kind, e.key) for e in again.list()] == [("Customer", "z"), ("Order", "a"), ("Order", "b")]
        assert [e.key for e in again.list("Order/*")] == ["a", "b"]
        assert again.read_entries([("Order", "a"), ("Order", "nope")]) == {("Order", "a"): written[2]}

    def test_lineage_stays_and_serial_grows(self, url: str) -> None:
        backend = self.backend(url)
        with backend.locked() as session:
            session.state.put(entry("Order", "a"))
            session.save()
            first = session.state.lineage
            session.state.remove("Order", "a")
            session.state.put(entry("Order", "b"))
            session.save()
        with self.backend(url).locked() as session:
            assert session.state.lineage == first and session.state.serial == 2
            assert [e.key for e in session.state.entries()] == ["b"]
            session.state.put(entry("Order", "c"))
            session.save()
        assert self.backend(url).read().serial == 3

    def test_a_failed_save_changes_nothing(self, url: str) -> None:
        backend = self.backend(url)
        with backend.locked() as session:
            session.state.put(entry("Order", "a"))
            session.save()
        with backend.locked() as session:
            session.state.put(entry("Order", "b"))
            # A value no backend can store: the save must fail whole.
            session.state.put(StateEntry(kind="Order", key="c", id="x", spec={"bad": {1, 2}}))
            with pytest.raises((StateError, TypeError, ValueError)):
                session.save()
        state = self.backend(url).read()
        assert [e.key for e in state.entries()] == ["a"] and state.serial == 1

    # ------------------------------------------------------------ locks

    def test_a_held_resource_excludes_another_session_and_names_the_holder(self, url: str) -> None:
        with self.backend(url).locked(operation="apply") as first:
            first.lock({("Order", "a")})
            with pytest.raises(StateLockError) as info, self.backend(url).locked(operation="apply") as second:
                second.lock({("Order", "a")})
            message = str(info.value)
            assert f"pid {os.getpid()}" in message and "apply" in message
        # Released when the session ends.
        with self.backend(url).locked() as third:
            third.lock({("Order", "a")})

    def test_disjoint_resources(self, url: str) -> None:
        backend = self.backend(url)
        with backend.locked() as first:
            first.lock({("Order", "a")})
            if backend.per_resource_locks:
                with self.backend(url).locked() as second:
                    second.lock({("Order", "b")})
                    second.state.put(entry("Order", "b"))
                    second.save()
                first.state.put(entry("Order", "a"))
                first.save()
            else:  # one lock for the whole state
                with pytest.raises(StateLockError), self.backend(url).locked() as second:
                    second.lock({("Order", "b")})
        if backend.per_resource_locks:
            assert {e.key for e in self.backend(url).list()} == {"a", "b"}

    def test_lock_timeout_waits_then_names_the_holder(self, url: str) -> None:
        with self.backend(url).locked(operation="apply") as first:
            first.lock({("Order", "a")})
            with pytest.raises(StateLockError, match=r"waited 0\.3s"), \
                    self.backend(url).locked(lock_timeout=0.3) as second:
                second.lock({("Order", "a")})

    def test_a_waiting_session_gets_the_lock_when_released(self, url: str) -> None:
        held = threading.Event()

        def hold() -> None:
            with self.backend(url).locked() as first:
                first.lock({("Order", "a")})
                first.state.put(entry("Order", "a", v=1))
                first.save()
                held.set()
                time.sleep(0.3)

        thread = threading.Thread(target=hold)
        thread.start()
        held.wait(10)
        with self.backend(url).locked(lock_timeout=30) as second:
            changed = second.lock({("Order", "a")})
            # Whatever the holder saved is what the waiter works on.
            assert second.state.get("Order", "a") == entry("Order", "a", v=1)
            assert changed <= {("Order", "a")}
        thread.join()

    # ------------------------------------------------------------ crashes and concurrency

    def test_sigkill_during_saves_leaves_one_consistent_generation(self, url: str) -> None:
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, url, "50"], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            for _ in range(3):
                assert proc.stdout.readline().strip(), "the writer died before saving"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(30)
        state = self.backend(url).read()
        generations = {e.spec["g"] for e in state.entries()}
        assert len(state) == 50 and len(generations) == 1 and state.serial == generations.pop()
        backend = self.backend(url)
        if backend.per_resource_locks:
            # The killed session's locks went with its connection.
            with backend.locked() as session:
                session.lock({("Order", "K000")})
        else:
            with pytest.raises(StateLockError, match="stale"), backend.locked():
                pass

    def test_concurrent_writers_lose_nothing(self, url: str) -> None:
        writers, rounds = 4, 5
        errors: list[BaseException] = []

        def write(n: int) -> None:
            try:
                for r in range(rounds):
                    with self.backend(url).locked(lock_timeout=60) as session:
                        session.lock({("Order", f"w{n}")})
                        session.state.put(entry("Order", f"w{n}", round=r))
                        session.save()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors
        state = self.backend(url).read()
        assert {(e.key, e.spec["round"]) for e in state.entries()} == {(f"w{n}", rounds - 1) for n in range(writers)}
        assert state.serial == writers * rounds

    # ------------------------------------------------------------ migrate

    def test_import_state_keeps_lineage_and_refuses_a_non_empty_destination(self, url: str) -> None:
        source = State(serial=7, lineage="11111111-2222-3333-4444-555555555555")
        source.put(entry("Order", "a"))
        source.put(entry("Customer", "c", nested={"x": [1, 2]}))
        backend = self.backend(url)
        backend.import_state(source)
        state = self.backend(url).read()
        assert state.lineage == source.lineage and state.serial == 7
        assert sorted(state.entries(), key=lambda e: e.key) == sorted(source.entries(), key=lambda e: e.key)
        other = State(serial=1, lineage="99999999-2222-3333-4444-555555555555")
        other.put(entry("Order", "z"))
        with pytest.raises(StateError, match="--force"):
            backend.import_state(other)
        backend.import_state(other, force=True)
        assert [e.key for e in self.backend(url).list()] == ["z"]

    # ------------------------------------------------------------ any data

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.differing_executors])
    @given(entries=st.lists(st.builds(
        StateEntry, kind=st.sampled_from(["Order", "Customer", "Kind With Space"]), key=_TEXT.filter(bool),
        id=_TEXT, spec=st.dictionaries(_TEXT, _JSON, max_size=4),
        updated_at=st.none() | _TEXT, applied_at=st.none() | _TEXT, source=st.none() | _TEXT,
        prevent_destroy=st.booleans()), max_size=8, unique_by=lambda e: (e.kind, e.key)))
    def test_any_entries_round_trip(self, url: str, entries: list[StateEntry]) -> None:
        fresh = _fresh(url)
        with self.backend(fresh).locked() as session:
            for e in entries:
                session.state.put(e)
            session.save()
        got = sorted(self.backend(fresh).read().entries(), key=lambda e: (e.kind, e.key))
        assert got == sorted(entries, key=lambda e: (e.kind, e.key))

