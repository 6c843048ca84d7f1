"""Asking Phoenix how many spans it stored (flows/export/phoenix.py), without Phoenix: the
GraphQL URL beside an OTLP URL, and the polling against a scripted client and clock
(the live check is test_phoenix_interop.py)."""

from __future__ import annotations

import pytest

from steplens.flows.export import phoenix


def test_graphql_url_sits_beside_the_traces_path():
    assert phoenix.graphql_url("http://127.0.0.1:6006/v1/traces") == \
        "http://127.0.0.1:6006/graphql"
    assert phoenix.graphql_url("https://host/phoenix/v1/traces/") == \
        "https://host/phoenix/graphql"
    assert phoenix.graphql_url("http://127.0.0.1:4318/v1/logs") is None


class Scripted:
    """A PhoenixClient stand-in: per poll, the projects it knows and the spans it holds
    (or an exception to raise, or None for a busy server)."""

    def __init__(self, polls: list) -> None:
        self.polls = polls
        self.asked: list[list[str]] = []

    def _next(self):
        item = self.polls[min(len(self.asked), len(self.polls) - 1)]
        if isinstance(item, Exception):
            self.asked.append([])
            raise item
        return item

    def project_ids(self):
        item = self._next()
        if item is None:
            self.asked.append([])
            return None
        projects, _ = item
        if "p" not in projects:
            self.asked.append([])
        return projects

    def stored_spans(self, project_id, traces):
        _, spans = self._next()
        self.asked.append(traces)
        return spans


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


TRACES = {"b" * 32: 3, "a" * 32: 2}  # 5 spans in 2 traces


def wait(client, clock, timeout_s=30.0):
    return phoenix.wait_stored(client, "p", TRACES, timeout_s=timeout_s, clock=clock,
                               sleep=clock.sleep)


def test_polls_until_every_span_is_stored():
    client = Scripted([({}, 0), None, ({"p": "id"}, 2), ({"p": "id"}, 5)])
    clock = Clock()
    stored = wait(client, clock)
    assert stored == phoenix.Stored(5, 5, clock.now, "p") and stored.complete
    assert client.asked[-1] == sorted(TRACES)  # every trace sent, each once
    assert len(clock.sleeps) == 3


def test_gives_up_after_the_timeout_with_what_is_stored():
    client = Scripted([({"p": "id"}, 4)])
    clock = Clock()
    stored = wait(client, clock, timeout_s=10)
    assert stored.spans == 4 and stored.sent == 5 and not stored.complete
    assert stored.waited_s == pytest.approx(10) and sum(clock.sleeps) == pytest.approx(10)


def test_another_collector_is_not_asked_and_a_refusal_later_is_said():
    assert wait(Scripted([phoenix.NotPhoenix("HTTP 404")]), Clock()) is None
    assert wait(Scripted([None]), Clock(), timeout_s=3) is None  # never answered
    # a refused connection before any answer: no Phoenix there, no waiting
    clock = Clock()
    assert wait(Scripted([phoenix.Unreachable("refused")]), clock) is None
    assert clock.sleeps == []
    # after an answer, a dropped connection is a busy Phoenix: keep asking
    stored = wait(Scripted([({}, 0), phoenix.Unreachable("reset"), ({"p": "id"}, 5),
                            ({"p": "id"}, 5)]), Clock())
    assert stored is not None and stored.complete
    with pytest.raises(phoenix.AskError, match="aliases"):
        wait(Scripted([({}, 0), phoenix.NotPhoenix("51 aliases found")]), Clock())
