"""Numeric regression of every claim at the smoke preset, with tolerances, and the seed aggregation.
The judges' logic is tested on synthetic summaries in test_claim_judges.py.

Regenerate the reference after an intended change: python tests/test_claims.py
"""
import json
import math
from pathlib import Path

import pytest

from monosem_lib import claims, runs, store

REFERENCE = Path(__file__).with_name("smoke_claims.json")


def current(results_dir) -> dict:
    out = {}
    for n in range(1, 12):
        judgement = claims.evaluate(n, "smoke", 0, results_dir)
        assert judgement.verdict in claims.VERDICTS and judgement.checks, judgement.missing
        out[str(n)] = {"verdict": judgement.verdict, "ours": [float(c.ours) for c in judgement.checks]}
    return out


def close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-4)


def test_claims_match_the_smoke_reference(smoke_results):
    expected = json.loads(REFERENCE.read_text())
    got = current(smoke_results)
    assert got.keys() == expected.keys()
    for n, claim in expected.items():
        assert got[n]["verdict"] == claim["verdict"], f"claim {n}"
        assert len(got[n]["ours"]) == len(claim["ours"]), f"claim {n}"
        for ours, reference in zip(got[n]["ours"], claim["ours"]):
            assert close(float(ours), float(reference)), f"claim {n}: {ours} != {reference}"


def test_each_claim_reads_exactly_the_batches_it_lists(smoke_results, monkeypatch):
    """Claim.batches is what runs.priority trains first: it must be what the gather reads."""
    read = set()
    for name in ("load", "available"):   # every way a gather reaches the store
        original = getattr(store, name)
        monkeypatch.setattr(store, name, lambda batch, *a, _original=original, **k: read.add(batch) or
                            _original(batch, *a, **k))
    for claim in claims.CLAIMS:
        read.clear()
        claim.gather(claims.Loader("smoke", 0, smoke_results))
        assert read == set(claim.batches), f"claim {claim.number}"


def test_claims_aggregate_mean_and_spread_over_seeds(smoke_results, tmp_path):
    """Seeds 1 and 2 train into a results dir of their own: the smoke store, which the reference
    pages read, keeps seed 0 alone."""
    runs.train(runs.Request(("LR1", "LR2"), "smoke", (1, 2), results_dir=tmp_path, progress=False))
    per_seed = [claims.evaluate(1, "smoke", 0, smoke_results)] + [claims.evaluate(1, "smoke", s, tmp_path)
                                                                   for s in (1, 2)]
    summary = claims.aggregate(per_seed)
    assert summary.seeds == 3 and sum(summary.tally.values()) == 3
    assert not any(row.absent for row in summary.rows)
    values = [j.checks[0].ours for j in per_seed]
    mean = sum(values) / 3
    assert summary.rows[0].ours.startswith(per_seed[0].checks[0].fmt.format(mean))
    assert " – " in summary.rows[0].ours


if __name__ == "__main__":
    import conftest
    REFERENCE.write_text(json.dumps(current(conftest.train_smoke()), indent=1, default=float) + "\n")
    print(f"wrote {REFERENCE}")
