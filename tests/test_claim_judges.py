"""Every claim's judge on synthetic summaries: each reaches reproduced, partly reproduced and not
reproduced, so a flipped comparison in a judge fails here. No training, no store."""
import dataclasses
import math
from types import SimpleNamespace

import pytest

from monosem_lib import claims, store
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

def claim1(spread=0.01, rise=0.5, one_mono=0.98, mono_bias=-0.6, tail_bias=0.1, tail=100):
    sweep = ((0.003, 0.2, 1.0), (0.03, 0.2 + rise, 1.0 + spread))
    biases = tuple(claims.BiasSplit(lr, mono_bias, tail_bias, tail) for lr in (0.003, 0.03))
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


def test_claim_4_has_no_drop_row_for_a_batch_with_nothing_below_the_scale():
    """A piecewise preset may hold a batch's offset 0 model and none below -sqrt(eps) (B5 at 0 and 1):
    there is no median to compare offset 0 with, so that batch has no drop row."""
    partial = claims.Claim4(claim4().below, (("B3", 1 / 64, 0.1), ("B5", 1 / 256, 0.9)))
    assert not any(c.quantity.startswith("B5") for c in claims.judge_4(partial))
    assert verdict(4, partial) == REPRODUCED
    only_zero = claims.judge_4(claims.Claim4((), (("B5", 1 / 256, 0.9),)))
    assert [c.quantity for c in only_zero] == ["models below -sqrt(eps)"]


# ---------------------------------------------------------------- claim 5

def claim5(offset=-1.0, peak=0.9, far=0.1, ties=()):
    return claims.Claim5({0.01: {"offset": offset, "peak": peak, "far": far, "ties": ties}})


def test_the_gelu_peak_the_offsets_tied_with_it_and_its_rivals():
    """The most negative offset wins a tie and the others are named; where no model has a mono
    neuron there is no peak to tie with."""
    p = claims.peak_of([(1.0, 0.8), (-1.0, 0.8), (0.0, 0.5), (-2.0, 0.1)])
    assert p["offset"] == -1.0 and p["ties"] == (1.0,) and p["far"] == 0.8 and p["peak"] == 0.8
    none = claims.peak_of([(-1.0, 0.0), (0.0, 0.0)])
    assert math.isnan(none["offset"]) and none["ties"] == ()
    assert math.isnan(claims.peak_of([(-1.0, 0.9)])["far"])


def test_claim_5():
    assert verdict(5, claim5()) == REPRODUCED
    assert verdict(5, claim5(ties=(-0.75,))) == REPRODUCED              # a tie inside the window
    assert verdict(5, claim5(offset=-0.5, ties=(1.0,))) == PARTLY       # a tie far off: not located at -1
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
                         1.0, ((0.5, 1.0 + sparse), (0.25, 1.0 + sparse)))


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

def claim8(peak_log2=-5, dense=0.02, e4=0.3, exponents=(-10, -8, -6, -5, -4, -3, -2)):
    eps = [2.0 ** e for e in exponents]
    mono = {e: (0.9 if math.log2(e) == peak_log2 else 0.4) for e in eps}
    mono[2.0 ** -2] = dense
    mono[2.0 ** -3] = dense
    return claims.Claim8(32, tuple((e, 256 * e, mono[e]) for e in eps), (eps[0], mono[eps[0]], mono[eps[0]] + e4))


def test_claim_8():
    assert verdict(8, claim8()) == REPRODUCED
    assert verdict(8, claim8(peak_log2=-8)) == PARTLY
    assert verdict(8, claim8(e4=-0.1)) == PARTLY
    assert verdict(8, claim8(peak_log2=-8, dense=0.5, e4=-0.1)) == NOT


def test_claim_8_without_a_model_at_twice_d_fails_that_part():
    checks = claims.judge_8(claim8(exponents=(-10, -8, -6, -5, -4)))   # N·eps reaches d/2 at most
    missing = [(c.quantity, c.passed) for c in checks if c.rule == "at least one"]
    assert missing == [("E1 models with N·eps ≥ 2d", False)]
    assert claims.ladder(checks) == PARTLY


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
    assert any(c.label() == "kinks not checked (E3 has no W2)" and c.passed is None for c in checks)


# ---------------------------------------------------------------- a quantity holds no measured number

@pytest.mark.parametrize("number, one, other", [
    (1, claim1(), claim1(spread=0.3, rise=-0.1, tail_bias=-0.1, mono_bias=0.1, tail=7)),
    (2, claim2(), claim2(mono=0.05, loss_change=0.05, low_gain=-0.05)),   # another least monosemantic lr
    (3, claim3(33, 34), claim3(0, 90)),
    (4, claim4(), claim4(below=(0.1, 0.3), zero=0.2)),
    (5, claim5(), claim5(offset=0.0, peak=0.5, far=0.4)),
    (6, claims.Claim6(1e-3, (0.8, 1.0), (0.85, 0.9)), claims.Claim6(1e-2, (0.3, 1.0), (0.85, 1.1))),
    (7, claim7(), claim7(growth=-5, gain_above=0.2, diff_above=0.01, sparse=-0.1)),
    (8, claim8(), claim8(dense=0.95, e4=-0.1)),                           # another peak value
    (9, claims.Claim9(((0.003, 1.0),)), claims.Claim9(((0.003, 0.2),))),
    (10, claims.Claim10(((0.003, 0.2, 1.0), (0.03, 0.7, 0.9)), ((0.001, 0.8, 0.85), (0.03, 0.2, 1.0))),
     claims.Claim10(((0.003, 0.7, 0.9), (0.03, 0.2, 1.0)), ((0.001, 0.2, 1.0), (0.03, 0.8, 1.05)))),
    (11, claim11(), claim11(top=(1.0,) * 17 + (0.5,) * 15, turn_on=0.7)),  # other counts near 0 and 1
])
def test_a_quantity_names_its_row_whatever_was_measured(number, one, other):
    """Seeds and scales match rows by quantity: two runs of one sweep that measure different numbers
    have the same quantities, and what differs goes in the values and details."""
    judge = claims.get_claim(number).judge
    assert [c.quantity for c in judge(one)] == [c.quantity for c in judge(other)]


# ---------------------------------------------------------------- part of a sweep (a piecewise preset)

class Sweeps:
    """A Loader over made-up models: batch → [(config fields, summary)] each."""

    def __init__(self, **sweeps):
        self.sweeps = sweeps

    def __call__(self, batch: str) -> list:
        return [SimpleNamespace(config=SimpleNamespace(**fields), s=summary) for fields, summary in self.sweeps[batch]]

    def summary(self, model) -> dict:
        return model.s


@pytest.fixture
def made_up(monkeypatch):
    """The made-up models' summaries stand in for metrics.summary (which the helpers call directly)."""
    monkeypatch.setattr(claims.metrics, "summary", lambda m: m.s)


RG1_L1 = [(dict(l1=1e-3), dict(mono_per_feature=0.5, loss=1.0)), (dict(l1=1e-2), dict(mono_per_feature=0.7, loss=1.1))]
RG1_REFERENCE = [(dict(l1=0.0), dict(mono_per_feature=0.8, loss=0.9))]


def test_rg1_split_needs_both_sides(made_up):
    with pytest.raises(store.StoreError, match=r"RG1 lacks the unregularised offset -1 model \(l1 = 0\)"):
        claims.rg1_split(Sweeps(RG1=RG1_L1)("RG1"))
    with pytest.raises(store.StoreError, match=r"RG1 lacks an L1 model"):
        claims.rg1_split(Sweeps(RG1=RG1_REFERENCE)("RG1"))
    l1, best, reference = claims.rg1_split(Sweeps(RG1=RG1_REFERENCE + RG1_L1)("RG1"))
    assert len(l1) == 2 and best.config.l1 == 1e-2 and reference.config.l1 == 0


def er1(*densities):
    return [(dict(density=d), dict(loss=1.0 + (1 - d))) for d in densities]


def k_sweep():
    return [(dict(k=k, n=64), dict(loss=2.0 / k, mono_neurons=k // 4)) for k in (32, 128)]


def test_gather_7_compares_the_sparse_models_with_the_dense_one(made_up):
    with pytest.raises(store.StoreError, match=r"ER1 lacks the dense model \(density 1\)"):
        claims.gather_7(Sweeps(ER1=er1(0.5, 0.25)))                     # 0.5 is no dense reference
    with pytest.raises(store.StoreError, match="ER1 lacks a sparse model"):
        claims.gather_7(Sweeps(ER1=er1(1.0)))
    s = claims.gather_7(Sweeps(ER1=er1(0.25, 1.0, 0.5), K0=k_sweep(), K1=k_sweep()))
    assert s.dense_loss == 1.0 and s.sparse_loss == ((0.5, 1.5), (0.25, 1.75))


def e_sweep(*exponents, mono=0.0):
    return [(dict(eps=2.0 ** e, n=64, d=8), dict(mono_per_feature=mono + e / 100)) for e in exponents]


def test_gather_8_compares_the_decays_at_the_sparsest_eps_both_have():
    s = claims.gather_8(Sweeps(E1=e_sweep(-6, -10, -8), E4=e_sweep(-6, -8, mono=0.5)))
    assert s.recovery == (2.0 ** -8, -0.08, 0.5 - 0.08)                 # not E1's sparsest, 2^-10
    assert [eps for eps, _, _ in s.e1] == [2.0 ** -10, 2.0 ** -8, 2.0 ** -6]
    with pytest.raises(store.StoreError, match="E4 lacks a model at an eps E1 has"):
        claims.gather_8(Sweeps(E1=e_sweep(-10, -8), E4=e_sweep(-3)))


@pytest.mark.parametrize("number, sweeps", [
    (6, Sweeps(RG1=RG1_L1)),
    (7, Sweeps(ER1=er1(0.5, 0.25))),
    (8, Sweeps(E1=e_sweep(-10), E4=e_sweep(-3))),
])
def test_a_missing_reference_is_not_trained_rather_than_a_crash(number, sweeps, made_up, monkeypatch):
    monkeypatch.setattr(claims, "Loader", lambda preset, seed, results_dir: sweeps)
    judgement = claims.evaluate(number, "half")
    assert judgement.verdict == claims.NOT_TRAINED and " lacks " in judgement.reason()


# ---------------------------------------------------------------- over seeds and scales

def judged(number, verdict, passed, ours=1.0, preset="quick", seed=0):
    checks = (Check("q", "p", ours, "r", passed), Check("shown", "p", ours))
    return claims.Judgement(number, preset, seed, verdict, checks)


def test_aggregate_is_the_most_common_verdict_and_the_worse_on_a_tie():
    three = [judged(1, REPRODUCED, True, 1.0), judged(1, REPRODUCED, True, 2.0), judged(1, NOT, False, 3.0)]
    summary = claims.aggregate(three)
    assert summary.verdict == REPRODUCED and summary.seeds == 3 and summary.tally[NOT] == 1
    assert summary.rows[0].ours == "2.000 (1.000 – 3.000)" and summary.rows[0].passes == 2
    assert claims.aggregate(three[1:]).verdict == NOT
    with pytest.raises(ValueError, match="no judged seed"):
        claims.aggregate([claims.Judgement(1, "quick", 0, claims.NOT_TRAINED, missing="LR1 …")])


def seed(number, *checks):
    return claims.Judgement(1, "half", number, PARTLY, checks)


def test_aggregate_matches_rows_by_quantity_and_shows_what_each_seed_measured():
    a0, a1 = Check("a", "p", 1.0, "r", True, detail="lr 0.003"), Check("a", "p", 3.0, "r", True, detail="lr 0.01")
    b0, b1 = Check("b", "p", 10.0, "r", False, detail="n 5"), Check("b", "p", 20.0, "r", True, detail="n 5")
    rows = {r.quantity: r for r in claims.aggregate([seed(0, a0, b0), seed(1, b1, a1)]).rows}   # another order
    assert rows["a"].ours == "2.000 (1.000 – 3.000)" and rows["a"].detail == "seed 0: lr 0.003; seed 1: lr 0.01"
    assert rows["b"].ours == "15.000 (10.000 – 20.000)" and rows["b"].detail == "n 5" and rows["b"].passes == 1


def test_a_row_some_seed_lacks_is_shown_and_not_counted_as_held():
    """A piecewise preset may hold a model at one seed and not at another: the row stays, its mean is
    over the seeds that have it, and the seed that lacks it is named and counts as not holding."""
    extra = Check("extra", "p", 5.0, "r", True)
    summary = claims.aggregate([seed(0, Check("a", "p", 1.0, "r", True), extra),
                                seed(1, Check("a", "p", 1.0, "r", True))])
    row = summary.rows[1]
    assert (row.quantity, row.ours, row.passes, row.absent) == ("extra", "5.000", 1, (1,))
    assert claims.held(row, summary.seeds) == "✗ 1 of 2 seeds; absent at seed 1"
    assert claims.held(summary.rows[0], summary.seeds) == "✓ 2 of 2 seeds"
    shown = dataclasses.replace(row, rule="")
    assert claims.held(shown, summary.seeds) == "absent at seed 1"
    assert "| | extra | p | 5.000 | r | ✗ 1 of 2 seeds; absent at seed 1 |" in claims.seeds_table({1: summary})


def test_aggregate_refuses_rows_it_cannot_match():
    twice = seed(0, Check("a", "p", 1.0, "r", True), Check("a", "p", 2.0, "r", True))
    with pytest.raises(ValueError, match="claim 1 at seed 0 names two checks alike"):
        claims.aggregate([twice])


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


def test_the_disagreement_names_two_flips_counts_the_rest_and_the_models_still_learning():
    rows = lambda passed, ours: tuple(Check(f"q{i}", "p", ours, "r", passed) for i in range(4))
    small = claims.Judgement(4, "quick", 0, NOT, rows(False, 0.1), still_learning=(("B1 offset = -1", 2 ** 14),))
    big = claims.Judgement(4, "paper", 0, REPRODUCED, rows(True, 0.9))
    assert claims.disagreement(small, big) == (
        "The scales differ on q0: 0.100 at `quick`, 0.900 at `paper` (rule r); q1: 0.100 at `quick`, 0.900 at "
        "`paper` (rule r), and 2 more; 1 of the models `quick` judges are still learning.")


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
