"""Every claim's judge on synthetic summaries: each reaches reproduced, partly reproduced and not
reproduced, so a flipped comparison in a judge fails here. No training, no store."""
import dataclasses
import math

import pytest

from monosem_lib import claims
from monosem_lib.claims import VERDICTS, Check

REPRODUCED, PARTLY, NOT = VERDICTS


def verdict(number: int, summary) -> str:
    return claims.ladder(claims.get_claim(number).judge(summary))


def test_the_ladder():
    rows = lambda *passed: [Check("q", "p", 0.0, "r", x) for x in passed] + [Check("shown", "p", 1.0)]
    assert claims.ladder(rows(True, True)) == REPRODUCED
    assert claims.ladder(rows(True, False)) == PARTLY
    assert claims.ladder(rows(True, False, False)) == NOT
    with pytest.raises(ValueError):
        claims.ladder([Check("shown", "p", 1.0)])


def test_the_registry_numbers_every_claim_once():
    assert [c.number for c in claims.CLAIMS] == list(range(1, 12))
    with pytest.raises(ValueError, match="valid: 1–11"):
        claims.get_claim(12)


# ---------------------------------------------------------------- claim 1

def claim1(spread=0.01, rise=0.5, one_mono=0.98, mono_bias=-0.6, tail_bias=0.1):
    sweep = ((0.003, 0.2, 1.0), (0.03, 0.2 + rise, 1.0 + spread))
    biases = tuple(claims.BiasSplit(lr, mono_bias, tail_bias, 100) for lr in (0.003, 0.03))
    return claims.Claim1(sweep, sweep, biases, one_mono)


def test_claim_1():
    assert verdict(1, claim1()) == REPRODUCED
    assert verdict(1, claim1(spread=0.3)) == PARTLY                 # the loss differs across lr
    assert verdict(1, claim1(tail_bias=-0.01)) == PARTLY            # the polysemantic tail is negative
    assert verdict(1, claim1(mono_bias=0.1)) == PARTLY              # the mono neurons' bias is positive
    assert verdict(1, claim1(one_mono=0.8)) == PARTLY
    assert verdict(1, claim1(spread=0.3, rise=-0.1, tail_bias=-0.1, mono_bias=0.1)) == NOT
    nan = claim1(mono_bias=math.nan)   # a model with no mono neuron fails its row
    assert verdict(1, nan) == PARTLY


def test_bias_split_takes_the_tail_of_the_firing_neurons():
    """Three mono neurons, six polysemantic ones and a dead one: the tail is the polysemantic one
    with the lowest r among the nine that fire; the dead neuron is in neither."""
    import torch
    from monosem_lib import batches, training
    config = batches.configs("LR1", "smoke")[0]
    n, d = config.n, config.d
    P = torch.eye(d, n)                       # feature j < d is the basis vector e_j
    W1 = torch.zeros(10, d)
    W1[:3, :3] = torch.eye(3)                 # neurons 0-2 answer one feature each
    W1[3:9, :] = 1.0                          # neurons 3-8 answer every feature
    W1[8, :] = torch.linspace(0.1, 2.0, d)    # neuron 8 the most unevenly (still polysemantic)
    b = torch.tensor([-0.5, -0.5, -0.5, 0.2, 0.2, 0.2, 0.2, 0.2, 0.7, -5.0])
    model = training.ModelResult(config=dataclasses.replace(config, k=10), W1=W1, b=b, W2=None, P=P, Q=None,
                                 checkpoints={}, loss_steps=None, loss=None, trace=None, seconds=0.0, provenance={})
    split = claims.bias_split(model)
    assert split.mono_bias == pytest.approx(-0.5)
    assert split.tail == 1 and split.tail_bias == pytest.approx(0.7)   # neuron 8


# ---------------------------------------------------------------- claims 2 and 3

def claim2(mono=0.9, loss_change=0.0, low_gain=0.5):
    zero = {0.003: (0.1, 1.0), 0.03: (0.5, 1.0)}
    offset = {0.003: (0.1 + low_gain, 1.0), 0.03: (mono, 1.0 + loss_change)}
    return claims.Claim2({"LR1": zero, "LR2": zero, "LR3": offset, "LR4": offset})


def test_claim_2():
    assert verdict(2, claim2()) == REPRODUCED
    assert verdict(2, claim2(loss_change=-0.01)) == REPRODUCED      # slightly lower loss is fine
    assert verdict(2, claim2(mono=0.5)) == PARTLY
    assert verdict(2, claim2(loss_change=0.05)) == PARTLY
    assert verdict(2, claim2(mono=0.5, loss_change=0.05, low_gain=-0.05)) == NOT
    apart = claim2()
    apart.sweeps["LR1"] = {0.01: (0.1, 1.0)}     # a piecewise preset: no lr shared with LR3
    assert claims.judge_2(apart)[-1].passed is False


def claim3(*bands):
    return claims.Claim3(tuple((f"model {i}", 32, band) for i, band in enumerate(bands)))


def test_claim_3():
    assert verdict(3, claim3(33, 34, 35)) == REPRODUCED
    assert verdict(3, claim3(33, 34, 36)) == PARTLY
    assert verdict(3, claim3(33, 0, 0)) == NOT
    assert verdict(3, claim3(31, 30)) == PARTLY                     # the tolerance is symmetric


# ---------------------------------------------------------------- claim 4

def claim4(below=(0.8, 0.9), zero=0.1):
    rows = tuple(("B3", 1 / 64, -2.0 + i, x / 2, x) for i, x in enumerate(below))
    return claims.Claim4(rows, (("B3", 1 / 64, zero),))


def test_claim_4_judges_every_offset_below_the_scale():
    assert verdict(4, claim4()) == REPRODUCED
    assert verdict(4, claim4(below=(0.0, 0.9, 0.9))) == PARTLY      # one dead model shows, not averaged away
    assert verdict(4, claim4(below=(0.8, 0.9), zero=0.8)) == PARTLY  # no drop at offset 0
    assert verdict(4, claim4(below=(0.0, 0.0, 1.5), zero=0.0)) == NOT
    assert verdict(4, claims.Claim4((), ())) == NOT


# ---------------------------------------------------------------- claim 5

def claim5(offset=-1.0, peak=0.9, far=0.1):
    return claims.Claim5({0.01: {"offset": offset, "peak": peak, "far": far, "tied": 0}})


def test_claim_5():
    assert verdict(5, claim5()) == REPRODUCED
    assert verdict(5, claim5(offset=0.0)) == PARTLY
    assert verdict(5, claim5(far=0.8)) == PARTLY
    assert verdict(5, claim5(offset=math.nan, peak=0.0, far=0.0)) == NOT


# ---------------------------------------------------------------- claim 6

def test_claim_6():
    judge = lambda best, ref: verdict(6, claims.Claim6(1e-3, best, ref))
    assert judge((0.8, 1.0), (0.85, 0.9)) == REPRODUCED
    assert judge((0.8, 1.0), (0.85, 1.1)) == PARTLY                # offset -1 has the higher loss
    assert judge((0.3, 1.0), (0.85, 0.9)) == PARTLY                # not comparable
    assert judge((0.3, 1.0), (0.85, 1.1)) == NOT
    assert judge((0.0, 1.0), (0.0, 0.9)) == PARTLY                 # no monosemanticity is not "comparable"


# ---------------------------------------------------------------- claim 7

def claim7(growth=100, gain_above=0.01, diff_above=-0.01, sparse=0.1):
    return claims.Claim7(256, ((16, 10), (1024, 10 + growth)), 0.6, gain_above, {256: 0.01, 512: diff_above},
                         ((1.0, 1.0), (0.5, 1.0 + sparse), (0.25, 1.0 + sparse)))


def test_claim_7():
    assert verdict(7, claim7()) == REPRODUCED
    assert verdict(7, claim7(gain_above=0.2)) == PARTLY             # the loss still improves beyond N
    assert verdict(7, claim7(diff_above=0.01)) == PARTLY
    assert verdict(7, claim7(sparse=-0.1)) == PARTLY
    assert verdict(7, claim7(growth=-5, gain_above=0.2, sparse=-0.1)) == NOT


def test_the_plateau_is_measured_from_the_first_k_above_n():
    Model = lambda k, loss: type("M", (), {"config": type("C", (), {"k": k})(), "loss": loss})
    models = [Model(k, loss) for k, loss in ((64, 2.0), (256, 1.0), (512, 0.5), (1024, 0.49))]
    summary = lambda m: {"loss": m.loss}
    original = claims.metrics.summary
    claims.metrics.summary = summary
    try:
        below, above = claims.k_loss_gains(models, 256)
    finally:
        claims.metrics.summary = original
    assert below == pytest.approx(0.75) and above == pytest.approx(0.02)


# ---------------------------------------------------------------- claim 8

def claim8(peak_log2=-5, dense=0.02, e4=0.3):
    eps = [2.0 ** e for e in (-10, -8, -6, -5, -4, -3, -2)]
    mono = {e: (0.9 if math.log2(e) == peak_log2 else 0.4) for e in eps}
    mono[2.0 ** -2] = dense
    mono[2.0 ** -3] = dense
    return claims.Claim8(32, tuple((e, 256 * e, mono[e]) for e in eps), mono[eps[0]] + e4)


def test_claim_8():
    assert verdict(8, claim8()) == REPRODUCED
    assert verdict(8, claim8(peak_log2=-8)) == PARTLY
    assert verdict(8, claim8(e4=-0.1)) == PARTLY
    assert verdict(8, claim8(peak_log2=-8, dense=0.5, e4=-0.1)) == NOT


# ---------------------------------------------------------------- claims 9 and 10

def test_claim_9():
    judge = lambda *mono: verdict(9, claims.Claim9(tuple(zip((0.003, 0.01, 0.03), mono))))
    assert judge(1.0, 0.9, 1.1) == REPRODUCED
    assert judge(1.0, 0.9, 0.5) == PARTLY
    assert judge(1.0, 0.5, 0.5) == NOT
    assert judge(1.0, 1.0, 1.6) == PARTLY                           # far above one is not "about one"


def test_claim_10():
    judge = lambda lr5, d1: verdict(10, claims.Claim10(lr5, d1))
    # (lr or decay, mono / N, loss)
    assert judge(((0.003, 0.2, 1.0), (0.03, 0.7, 0.9)), ((0.001, 0.8, 0.85), (0.03, 0.2, 1.0))) == REPRODUCED
    # more monosemantic models have the higher loss
    assert judge(((0.003, 0.2, 0.9), (0.03, 0.7, 1.0)), ((0.001, 0.8, 1.05), (0.03, 0.2, 0.85))) == PARTLY
    # mono falls with lr, and the slow decay is the less monosemantic
    assert judge(((0.003, 0.7, 0.9), (0.03, 0.2, 1.0)), ((0.001, 0.2, 1.0), (0.03, 0.8, 1.05))) == NOT


# ---------------------------------------------------------------- claim 11

def claim11(turn_on=0.4, second=0.8, top=(1.0,) * 20 + (0.0,) * 12, through=0.001, missing=""):
    kinks = {"E1": (turn_on, second, 5)} | ({} if missing else {"E3": (0.3, 0.6, 5)})
    return claims.Claim11((1 / 64, 1 / 256), kinks, 32, 33, top, through, missing)


def test_claim_11():
    assert verdict(11, claim11()) == REPRODUCED
    assert verdict(11, claim11(top=(1.0,) * 17 + (0.5,) * 15)) == PARTLY   # many values neither 0 nor 1
    assert verdict(11, claim11(top=(0.0,) * 32)) == PARTLY                 # all zero is no identity
    assert verdict(11, claim11(through=0.01)) == PARTLY
    assert verdict(11, claim11(turn_on=0.7, second=math.nan, through=0.01, top=(0.5,) * 32)) == NOT


def test_claim_11_without_e3s_W2_judges_e1_and_says_so():
    checks = claims.judge_11(claim11(missing="E3 has no W2"))
    assert claims.ladder(checks) == REPRODUCED
    assert any("not checked: E3 has no W2" in c.quantity and c.passed is None for c in checks)


# ---------------------------------------------------------------- over seeds and scales

def judged(number, verdict, passed, ours=1.0, preset="quick"):
    checks = (Check("q", "p", ours, "r", passed), Check("shown", "p", ours))
    return claims.Judgement(number, preset, 0, verdict, checks)


def test_aggregate_is_the_most_common_verdict_and_the_worse_on_a_tie():
    three = [judged(1, REPRODUCED, True, 1.0), judged(1, REPRODUCED, True, 2.0), judged(1, NOT, False, 3.0)]
    summary = claims.aggregate(three)
    assert summary.verdict == REPRODUCED and summary.seeds == 3 and summary.tally[NOT] == 1
    assert summary.rows[0].ours == "2.000 (1.000 – 3.000)" and summary.rows[0].passes == 2
    assert claims.aggregate(three[1:]).verdict == NOT


def test_the_scales_disagree_in_one_sentence():
    small, big = judged(4, NOT, False, 0.1), judged(4, REPRODUCED, True, 0.9, preset="paper")
    sentence = claims.disagreement(small, big)
    assert "q: 0.100 at `quick`, 0.900 at `paper`" in sentence
    assert claims.disagreement(big, small) == sentence               # the worse scale first, either way
    other = claims.Judgement(4, "paper", 0, REPRODUCED, (Check("other", "p", 0.9, "r", True),))
    assert claims.disagreement(small, other).startswith("At `quick` 1 of 1 checks fail (e.g. q = 0.100, rule r)")
    assert claims.disagreement(big, big) == ""
    missing = claims.Judgement(4, "paper", 0, claims.NOT_TRAINED, missing="B3 is not trained: …")
    assert claims.disagreement(small, missing) == ""
    assert missing.reason() == "B3 is not trained"


def test_the_reason_names_the_first_failure_and_the_models_still_learning():
    failing = dataclasses.replace(judged(1, PARTLY, False, 0.5),
                                  still_learning=(("LR1 lr = 0.003", 2 ** 14), ("LR1 lr = 0.01", 2 ** 14)))
    assert failing.reason() == ("1 of 1 checks fail, e.g. q = 0.500 (rule r); 2 of its models still learning at "
                                "2^14 steps; scaled down here: width N 256 of 512, batch 128 of 8192, steps 2^14 of 2^17")
    assert judged(1, REPRODUCED, True).reason() == "all 1 checks hold"


def test_a_failing_claim_names_the_scale_factors_its_preset_still_cuts():
    """At half only the width and the batch are cut; at paper scale nothing is; a claim that holds says
    nothing of them."""
    assert judged(1, NOT, False, preset="half").reason().endswith("scaled down here: width N 256 of 512, batch 128 of 8192")
    assert judged(1, NOT, False, preset="paper").reason() == "1 of 1 checks fail, e.g. q = 1.000 (rule r)"
    assert "scaled" not in judged(1, REPRODUCED, True, preset="half").reason()
