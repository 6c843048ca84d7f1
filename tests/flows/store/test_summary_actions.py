"""Every action a plan can give a file has its count in the ingest summary."""

from typing import get_args

from steplens.flows.store.manifest import Action
from steplens.flows.store.summary import FILE_ACTIONS


def test_every_plan_action_is_counted_once():
    assert sorted(FILE_ACTIONS) == sorted(get_args(Action))
    assert len(set(FILE_ACTIONS.values())) == len(FILE_ACTIONS)
