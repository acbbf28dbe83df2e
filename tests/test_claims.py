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


def test_claims_aggregate_mean_and_spread_over_seeds(smoke_results):
    runs.train(runs.Request(("LR1", "LR2"), "smoke", (1, 2), results_dir=smoke_results, progress=False))
    per_seed = [claims.evaluate(1, "smoke", s, smoke_results) for s in (0, 1, 2)]
    summary = claims.aggregate(per_seed)
    assert summary.seeds == 3 and sum(summary.tally.values()) == 3
    values = [j.checks[0].ours for j in per_seed]
    mean = sum(values) / 3
    assert summary.rows[0].ours.startswith(per_seed[0].checks[0].fmt.format(mean))
    assert " – " in summary.rows[0].ours


if __name__ == "__main__":
    import conftest
    REFERENCE.write_text(json.dumps(current(conftest.train_smoke()), indent=1, default=float) + "\n")
    print(f"wrote {REFERENCE}")
