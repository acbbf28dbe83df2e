"""The three remedies for the fragile bias decay (remedies.py): each does what its equation says,
a zero strength is exactly the paper's protocol, and stacked runs equal single ones."""
import dataclasses
import types

import pytest
import torch

from monosem_lib import batches, fragility, remedies, store
from monosem_lib.config import ConfigError, ModelConfig, REMEDY_DEFAULTS
from monosem_lib.training import train

BASE = ModelConfig(n=32, d=8, k=48, batch_size=32, steps=64, t_max=16, eps=1 / 8, lr=0.01, offset=-1.0)
REMEDY = {"silent_decay": 0.3, "tied_decay": 0.3, "bias_reg": 1.0}


def test_zero_strengths_are_exactly_the_papers_protocol_and_keep_every_key():
    paper = dataclasses.replace(BASE, decay=0.03)
    zero = dataclasses.replace(paper, silent_decay=0.0, tied_decay=0.0, bias_reg=0.0, bias_target=-1.0)
    assert zero.to_dict() == paper.to_dict() and not set(REMEDY_DEFAULTS) & set(paper.to_dict())
    assert store.model_key(zero) == store.model_key(paper)
    # A stack where a neighbour uses every remedy leaves the paper's model bit for bit as it was.
    alone = train([paper], progress=False)[0]
    neighbour = dataclasses.replace(paper, stream=1, silent_decay=0.3, tied_decay=0.3, bias_reg=1.0)
    stacked = train([paper, neighbour], progress=False, max_stack=2)[0]
    for name in ("W1", "b", "W2", "loss"):
        assert torch.equal(getattr(alone, name), getattr(stacked, name)), name


def test_a_remedy_field_away_from_its_default_changes_the_key():
    for field, value in {**REMEDY, "bias_target": -2.0}.items():
        other = dataclasses.replace(BASE, **{field: value})
        assert other.to_dict()[field] == value and store.model_key(other) != store.model_key(BASE)


@pytest.mark.parametrize("field", sorted(REMEDY))
def test_stacked_remedy_models_equal_single_runs(field):
    configs = [dataclasses.replace(BASE, stream=0, **{field: REMEDY[field]}),
               dataclasses.replace(BASE, stream=1, lr=0.03, **{field: REMEDY[field] / 3}),
               dataclasses.replace(BASE, stream=2, decay=0.03)]
    stacked = train(configs, progress=False)
    for c, s in zip(configs, stacked):
        alone = train([c], progress=False)[0]
        for name in ("W1", "b", "W2"):
            assert torch.allclose(getattr(s, name), getattr(alone, name), atol=1e-5), (field, name)


def silent_bias_update(silent_decay, fired, b):
    """One step of remedy (a) alone, through BiasUpdate."""
    values = {"lr": 0.1, "decay": 0.0, "silent_decay": silent_decay, "tied_decay": 0.0, "bias_reg": 0.0,
              "bias_target": -1.0}
    update = remedies.BiasUpdate(lambda f: torch.tensor([values[f]]), [torch.zeros(1, 2)], steps=10)
    update.apply(b, 0, [torch.zeros(1, 2)], fired)
    return b


def test_silent_decay_pulls_only_the_biases_of_neurons_that_did_not_fire():
    b = silent_bias_update(0.5, torch.tensor([[True, False, True, False]]), torch.tensor([[-1.0, -1.0, -2.0, -2.0]]))
    assert torch.allclose(b, torch.tensor([[-1.0, -0.95, -2.0, -1.9]]))  # silent: b·(1 − 0.5·0.1)


def test_a_dead_start_revives_under_silent_decay_and_stays_dead_under_the_papers():
    """Offset -3 kills every neuron; only the silent neurons' decay brings their biases back."""
    dead = dataclasses.replace(BASE, offset=-3.0, lr=0.01, decay=0.003, steps=512)
    revived = dataclasses.replace(dead, decay=0.0, silent_decay=3.0)
    paper, remedy = train([dead, revived], progress=False)
    assert paper.b.mean() < -2.9 and float(paper.loss[-1]) == pytest.approx(float(paper.loss[0]), rel=0.3)
    assert remedy.b.mean() > -1.0 and remedy.loss[-1] < 0.8 * paper.loss[-1]


def test_coherence_is_one_for_steady_steps_and_small_for_cancelling_ones():
    w = [torch.zeros(2, 3)]
    c = remedies.Coherence(w, horizon=8)
    for t in range(200):
        w[0][0] += 0.1                           # model 0 walks one way
        w[0][1] += 0.1 * (-1) ** t               # model 1 steps back and forth
        coherence = c.update(w)
    assert coherence[0] == pytest.approx(1.0) and coherence[1] < 0.1
    still = remedies.Coherence([torch.zeros(1, 3)])
    assert still.update([torch.zeros(1, 3)]).item() == 0  # nothing moved: no coherence, full decay


def test_tied_decay_waits_while_the_weights_move_steadily():
    """b ← b·(1 − lr·λ_c·(1 − c)): with c = 1 (steady movement) the bias does not decay at all."""
    values = {"lr": 0.1, "decay": 0.0, "silent_decay": 0.0, "tied_decay": 0.5, "bias_reg": 0.0, "bias_target": -1.0}
    w = [torch.zeros(1, 2)]
    update = remedies.BiasUpdate(lambda f: torch.tensor([values[f]]), w, steps=10)
    b = torch.tensor([[-1.0, -2.0]])
    w[0] += 1.0
    update.apply(b, 0, w, None)
    assert torch.equal(b, torch.tensor([[-1.0, -2.0]]))
    w[0] -= 1.0
    update.apply(b, 1, w, None)  # a step back: the movement cancels, c falls, the decay starts
    assert (b > torch.tensor([[-1.0, -2.0]])).all()


def test_bias_regulariser_pulls_towards_its_target_for_the_whole_run():
    """b ← b − lr·ρ·(b − b*), every step: with lr tiny, the bias relaxes exactly as the equation says."""
    c = dataclasses.replace(BASE, lr=1e-9, offset=0.0, bias_reg=1e6, bias_target=-0.5)  # ρ·lr = 1e-3
    r = train([c], progress=False)[0]
    b1 = r.checkpoints[1]["b"]
    expected = -0.5 + (b1 + 0.5) * (1 - 1e-3) ** 63
    assert torch.allclose(r.b, expected, atol=1e-5)  # the second half too


@pytest.mark.parametrize("fields, message", [
    (dict(silent_decay=-0.1), "silent_decay must be >= 0"),
    (dict(tied_decay=-1.0), "tied_decay must be >= 0"),
    (dict(bias_reg=-1.0), "bias_reg must be >= 0"),
    (dict(decay=50.0, silent_decay=60.0), r"\(decay \+ silent_decay \+ tied_decay\)·lr < 1"),
    (dict(bias_reg=200.0), "bias_reg must satisfy bias_reg·lr < 1"),
    (dict(bias_target=float("nan")), "bias_target must be a finite number"),
])
def test_impossible_remedy_settings_are_refused_with_the_rule(fields, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(BASE, **fields)


def test_the_beyond_batches_hold_each_remedy_at_its_one_setting():
    for name in ("XL", "XA", "XE", "XB"):
        kinds = [remedies.protocol(c) for c in batches.configs(name, "quick")]
        assert {"paper", "silent", "tied", "regulariser"} <= set(kinds), name
    xl = batches.configs("XL", "quick")
    assert {c.lr for c in xl} == set(batches.PRESETS["quick"].lrs)
    assert {remedies.strength(c) for c in xl if remedies.protocol(c) != "paper"} == {0.3, 1.0}


def fake_row(batch, where, protocol, strength, mono, loss, seed=0):
    # A stand-in model: table() tells models apart by config, here one per place, protocol, strength, seed.
    model = types.SimpleNamespace(config=(where, protocol, strength, seed))
    return fragility.Row(batch, seed, where, protocol, strength, mono, loss, model)


def test_the_verdict_table_averages_seeds_and_takes_d1s_decay_as_the_papers_on_abs():
    rows = [fake_row("XA", "XA", "paper", 10 ** -1.5, 0.30, 0.90, seed) for seed in (0, 1)] + \
           [fake_row("XA", "XA", "paper", 0.3, 0.0, 1.3)] + \
           [fake_row("XA", "XA", "silent", 0.3, mono, 0.89, seed) for seed, mono in ((0, 0.2), (1, 0.4))]
    grid = fragility.table(rows)["XA"]
    assert grid["paper"].mono == pytest.approx(0.30) and grid["paper"].seeds == 2
    assert grid["silent"].mono == pytest.approx(0.30) and grid["silent"].mono_range == (0.2, 0.4)
    assert fragility.at_least_as_good(grid["silent"], 0.31, 0.89 / 1.005)     # within both tolerances
    assert not fragility.at_least_as_good(grid["silent"], 0.33, 0.90)         # 0.03 less monosemantic
    assert not fragility.at_least_as_good(grid["silent"], 0.30, 0.87)         # 2.3 % higher loss


# The chapter's verdict (fragility.verdicts, judge's pure core) and its answer (fragility.reading), on
# synthetic cells: a remedy either as good as everything (GOOD) or less monosemantic than the paper and
# Table 1 (BAD).
PAPER = fragility.Cell(0.50, (0.50, 0.50), 1.00, (1.00, 1.00), 1)
GOOD = fragility.Cell(0.50, (0.50, 0.50), 1.00, (1.00, 1.00), 1)
BAD = fragility.Cell(0.40, (0.40, 0.40), 1.00, (1.00, 1.00), 1)
TABLE1 = {"mono_per_feature": 0.50, "loss": 1.00}


def verdict_grid(places, remedy_cells=None):
    """place → protocol → Cell: the paper's protocol and every remedy GOOD, except `remedy_cells`."""
    return {place: {"paper": PAPER, **{r: (remedy_cells or {}).get((r, place), GOOD) for r in fragility.REMEDIES}}
            for place in places}


def test_the_places_compared_with_table_1_are_every_lr_with_xls_for_xl_where_it_trains_longer_and_abs():
    xls = {c.lr for c in batches.configs("XLS", "smoke")}
    assert xls == {min(batches.PRESETS["smoke"].lrs)}
    assert fragility.compared_places("smoke") == [f"XLS lr {min(xls):g}"] + \
        [f"XL lr {lr:g}" for lr in sorted(batches.PRESETS["smoke"].lrs) if lr not in xls] + ["XA"]
    for preset in batches.PRESETS:
        places, lengths = fragility.compared_places(preset), fragility.lengths(preset)
        longer = lengths["XLS"][0] > lengths["XL"][0]          # quick, smoke; at half and paper XLS is XL
        assert len(places) == len(batches.PRESETS[preset].lrs) + 1
        assert places[0] == f"{'XLS' if longer else 'XL'} lr {min(batches.PRESETS[preset].lrs):g}"
        assert fragility.xls_is_xl(preset) == (not longer), preset


def test_a_place_whose_models_are_an_earlier_places_is_judged_and_counted_once():
    xl = [fake_row("XL", "XL lr 0.003", "paper", 0.03, 0.5, 1.0),
          fake_row("XL", "XL lr 0.003", "silent", 0.3, 0.4, 1.0)]
    xl_long = [fake_row("XLS", "XLS lr 0.003", r.protocol, r.strength, 0.6, 1.0) for r in xl]   # trained longer
    xl_again = [dataclasses.replace(r, batch="XLS", setting="XLS lr 0.003") for r in xl]       # XL's models again
    assert list(fragility.table(xl + xl_long)) == ["XL lr 0.003", "XLS lr 0.003"]
    grid = fragility.table(xl + xl_again)
    assert list(grid) == ["XL lr 0.003"]
    silent = fragility.verdicts(grid, {}, ["XL lr 0.003"])["silent"]
    assert silent["vs_paper"] == [("XL lr 0.003", False)]                  # one model, one tally


def test_a_remedy_as_good_as_table_1_at_every_compared_place_holds_everywhere():
    compared = ["XLS lr 0.003", "XL lr 0.03", "XA"]
    places = ["XL lr 0.003", *compared, "XE", "XB"]
    # Short of the paper at XL lr 0.003 (which XLS stands for) and at XE: neither is compared with Table 1.
    grid = verdict_grid(places, {("silent", "XL lr 0.003"): BAD, ("silent", "XE"): BAD})
    refs = {place: TABLE1 for place in compared + ["XL lr 0.003"]}   # XE and XB without a reference
    v = fragility.verdicts(grid, refs, compared)["silent"]
    assert v["answer"] == "yes" and v["missing"] == []
    assert v["vs_table1"] == [(place, True) for place in compared]
    assert dict(v["vs_paper"]) == {**{place: True for place in places}, "XL lr 0.003": False, "XE": False}


def test_a_remedy_short_of_table_1_at_one_compared_place_does_not_hold_even_where_others_are_missing():
    compared = ["XLS lr 0.003", "XL lr 0.03", "XA"]
    grid = verdict_grid(compared, {("tied", "XA"): BAD})
    refs = {"XL lr 0.03": TABLE1, "XA": TABLE1}                      # XLS without a reference
    out = fragility.verdicts(grid, refs, compared)
    assert out["tied"]["answer"] == "no" and out["tied"]["vs_table1"] == [("XL lr 0.03", True), ("XA", False)]
    assert out["tied"]["missing"] == ["XLS lr 0.003"]
    # The same place without its reference leaves the others open rather than answered.
    assert out["silent"]["answer"] == "open" and out["silent"]["missing"] == ["XLS lr 0.003"]


def test_a_compared_place_without_its_models_or_without_table_1_leaves_the_answer_open():
    compared = ["XLS lr 0.003", "XL lr 0.03", "XA"]
    grid = verdict_grid(["XLS lr 0.003", "XL lr 0.03"])             # XA not trained
    del grid["XL lr 0.03"]["regulariser"]                             # nor the regulariser at lr 0.03
    out = fragility.verdicts(grid, {place: TABLE1 for place in compared}, compared)
    assert out["silent"]["answer"] == "open" and out["silent"]["missing"] == ["XA"]
    assert out["regulariser"]["missing"] == ["XL lr 0.03", "XA"]
    assert out["regulariser"]["vs_paper"] == [("XLS lr 0.003", True)]
    nothing = fragility.verdicts({}, {}, compared)["tied"]            # no model stored at all
    assert nothing == {"vs_paper": [], "vs_table1": [], "missing": compared, "answer": "open"}


def test_table_1_tolerances_decide_the_comparison_with_its_model():
    compared = ["XA"]
    grid = verdict_grid(compared)
    for mono, loss, answer in ((0.515, 1.00, "yes"), (0.53, 1.00, "no"), (0.50, 0.995, "yes"), (0.50, 0.98, "no")):
        refs = {"XA": {"mono_per_feature": mono, "loss": loss}}
        assert fragility.verdicts(grid, refs, compared)["silent"]["answer"] == answer, (mono, loss)


def judgement(remedies, grid, rows=()):
    return fragility.Judgement(list(rows), {}, grid, {}, remedies)


def verdict(answer, missing=(), vs_paper=()):
    return {"vs_paper": list(vs_paper), "vs_table1": [], "missing": list(missing), "answer": answer}


def test_the_answer_is_yes_where_one_remedy_holds_everywhere():
    r = fragility.reading(judgement({"silent": verdict("no"), "tied": verdict("yes"), "regulariser": verdict("open", ["XA"])},
                                    verdict_grid(["XA"])))
    assert r.answer == "yes" and r.holding == ["tied"] and r.undecided == {"regulariser": ["XA"]}


def test_the_answer_is_open_where_none_holds_and_one_was_not_judged_everywhere():
    r = fragility.reading(judgement({"silent": verdict("no"), "tied": verdict("open", ["XLS lr 0.003", "XA"]),
                                     "regulariser": verdict("no")}, {}))
    assert r.answer == "open" and r.holding == [] and r.undecided == {"tied": ["XLS lr 0.003", "XA"]}


def test_the_answer_is_no_where_every_remedy_falls_short_and_reading_lists_where_each_beats_the_paper():
    grid = verdict_grid(["XA", "XE"], {("silent", "XE"): BAD})
    remedies_ = {"silent": verdict("no", vs_paper=[("XA", True), ("XE", False)]),
                 "tied": verdict("no", vs_paper=[("XA", True), ("XE", True)]), "regulariser": verdict("no")}
    r = fragility.reading(judgement(remedies_, grid))
    assert r.answer == "no" and r.holding == [] and r.undecided == {}
    assert r.good == {"silent": ["XA"], "tied": ["XA", "XE"], "regulariser": []}
    assert r.short == {"silent": [("XE", BAD, PAPER)], "tied": [], "regulariser": []}
    assert r.sweep == {}


def test_the_strength_sweep_picks_each_protocols_most_monosemantic_strength_over_seeds():
    rows = [fake_row("XS", "XS lr 0.01", "silent", 0.03, mono, 1.0, seed) for seed, mono in ((0, 0.1), (1, 0.3))] + \
           [fake_row("XL", "XL lr 0.01", "silent", 0.3, 0.25, 1.0)] + \
           [fake_row("XL", "XL lr 0.03", "silent", 3.0, 0.9, 1.0)] + \
           [fake_row("XS", "XS lr 0.01", "none", 0.0, 0.9, 1.0)]
    best = fragility.best_strengths(rows)
    assert list(best) == ["silent"] and best["silent"][0] == 0.3 and best["silent"][1].mono == pytest.approx(0.25)
    assert fragility.reading(judgement({}, {}, rows)).sweep == best


# Table 1's counterparts and the training lengths, from the batch definitions.
def paper_configs(batch, preset="quick"):
    return [c for c in batches.configs(batch, preset) if remedies.protocol(c) == "paper"]


def test_each_place_is_compared_with_table_1_at_the_value_its_batch_defines():
    for batch, table1, field in (("XA", "D1", "decay"), ("XE", "E1", "eps"), ("XB", "B3", "offset")):
        papers = paper_configs(batch)
        slowest = min(papers, key=remedies.strength)
        assert fragility.reference_setting(batch, slowest.lr, "quick") == (table1, field, getattr(slowest, field))
        assert fragility.paper_config(batch, slowest.lr, "quick") == slowest
    assert len(paper_configs("XA")) == 2  # D1's decay and a fast one: the slower is compared
    for c in paper_configs("XL"):
        assert fragility.reference_setting("XL", c.lr, "quick") == ("LR3", "lr", c.lr)
    assert fragility.reference_setting("XL", 0.5, "quick") is None and fragility.paper_config("XL", 0.5, "quick") is None


def summary(mono, loss=1.0, neurons=0):
    return {"mono_per_feature": mono, "loss": loss, "mono_neurons": neurons}


def test_a_counterpart_says_where_the_places_value_sits_in_table_1s_sweep():
    lr = paper_configs("XA")[0].lr
    value = fragility.reference_setting("XA", lr, "quick")[2]
    decays = [c.decay for c in batches.configs("D1", "quick")]
    others = sorted(remedies.strength(c) for c in paper_configs("XA") if c.decay != value)
    sweep = [(x, summary(0.1 * i)) for i, x in enumerate(decays)]   # the highest decay the most monosemantic
    c = fragility.counterpart("XA", lr, "quick", sweep)
    assert (c.batch, c.field, c.value, c.others) == ("D1", "decay", value, others)
    assert c.trained and c.highest == (value == max(decays)) and c.summary == sweep[decays.index(value)][1]
    assert c.best == max(decays) and c.is_best == (value == max(decays))
    tied = fragility.counterpart("XA", lr, "quick", [(x, summary(0.2, loss=1.0 + (x == min(decays)) * -0.5))
                                                     for x in decays])
    assert tied.best == min(decays) and tied.is_best == (value == min(decays))  # equal mono: the lower loss
    missing = fragility.counterpart("XA", lr, "quick", None)          # D1 not stored
    assert missing.summary is None and missing.best is None and not missing.is_best


def test_a_counterpart_where_table_1_does_not_train_the_places_value():
    lr = paper_configs("XE", "smoke")[0].lr
    eps = fragility.reference_setting("XE", lr, "smoke")[2]
    assert eps not in batches.PRESETS["smoke"].e_eps
    sweep = [(x, summary(0.5)) for x in batches.PRESETS["smoke"].e_eps]
    c = fragility.counterpart("XE", lr, "smoke", sweep)
    assert not c.trained and c.summary is None and c.others == []
    assert fragility.counterpart("XE", 0.5, "smoke", sweep) is None  # no paper protocol at that lr


def test_the_lengths_set_each_beyond_batch_against_its_table_1_batch_at_the_preset():
    for preset, name in ((p, n) for p in batches.PRESETS for n in batches.BEYOND):
        p = batches.PRESETS[preset]
        ours, table1, theirs = fragility.lengths(preset)[name]
        assert table1 == fragility.SETTINGS.get(name, "LR3")
        assert (ours, theirs) == (batches.get_batch(name).steps(p), batches.get_batch(table1).steps(p))
    quick, half = fragility.lengths("quick"), fragility.lengths("half")
    assert quick["XL"][2] / quick["XL"][0] > 1 and half["XL"][2] == half["XL"][0]   # the ratio is the preset's
    assert all(lengths[n][0] == lengths[n][2] for lengths in (quick, half) for n in ("XLS", "XA", "XE", "XB"))
