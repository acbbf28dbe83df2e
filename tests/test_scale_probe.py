"""The scale probe trains exactly the chosen models of a batch, with only batch size and steps changed."""
import argparse

import pytest

from benchmarks import scale_probe
from monosem_lib import batches
from monosem_lib.config import ConfigError


def probe_args(**changes):
    defaults = dict(batch="LR3", preset="smoke", seed=0, batch_size=None, steps=None, only=None)
    return argparse.Namespace(**{**defaults, **changes})


def test_only_filters_and_overrides_keep_the_rest():
    original = {c.lr: c for c in batches.configs("LR3", "smoke")}
    chosen = scale_probe.configs(probe_args(batch_size=96, steps=300, only="lr=0.03"))
    assert [c.lr for c in chosen] == [0.03]
    assert (chosen[0].batch_size, chosen[0].steps) == (96, 300)
    assert chosen[0].to_dict() == {**original[0.03].to_dict(), "batch_size": 96, "steps": 300}


@pytest.mark.parametrize("only, message", [("offset=1", "sweeps lr"), ("lr=0.5", "no model of LR3"),
                                           ("lr", "--only takes FIELD=V1,V2"), ("lr=abc", "takes numbers, got 'abc'")])
def test_bad_selection_names_the_problem(only, message):
    with pytest.raises(ConfigError, match=message):
        scale_probe.configs(probe_args(only=only))


def test_impossible_batch_size_is_refused():
    with pytest.raises(ConfigError, match="batch_size"):
        scale_probe.configs(probe_args(batch_size=0))
