"""The presets: which runs follow the paper's length, and that adding presets moved no model's key."""
from monosem_lib import batches, store


def test_the_half_preset_runs_the_papers_steps():
    for name in batches.TABLE_1 + ("BD", "ER1"):
        for preset in ("half", "paper"):
            steps = {c.steps for c in batches.configs(name, preset)}
            assert steps == {2 ** 20 if name in ("E1", "E2", "E3", "E4", "D1") else 2 ** 17}, (name, preset)


def test_the_half_preset_keeps_the_papers_ratios_at_half_width():
    """Every field but the swept ones as in the paper's sweep (the sweeps are thinned, and E's reaches
    eps = 1/4, where N·eps = 2d)."""
    def protocol(c):
        fields = dict(task=c.task, activation=c.activation, distribution=c.distribution, k=c.k / c.n, eps=c.eps,
                      lr=c.lr, decay=c.decay, offset=c.offset, l1=c.l1, t_max=c.t_max, steps=c.steps)
        return tuple(v for f, v in fields.items() if f not in swept)
    for name in batches.TABLE_1:
        swept = batches.get_batch(name).sweep_fields()
        paper = {protocol(c) for c in batches.configs(name, "paper")}
        for half in batches.configs(name, "half"):
            assert (half.n, half.d) == (256, 32)
            assert protocol(half) in paper, (name, half)  # a thinned sweep: each model is one of the paper's


def test_every_published_quick_model_keeps_its_key():
    """The quick preset's configs are what its published files were trained from."""
    published = {p.name for p in store.published_dir().glob("seed*-*.pt")}
    every = [c for name in batches.BATCHES for c in batches.configs(name, "quick")]
    assert all(store.file_name(c) in published for c in every)


def test_cuts_name_what_each_preset_scales_down():
    cuts = {name: batches.cuts(p) for name, p in batches.PRESETS.items()}
    assert cuts["paper"] == [] and cuts["half"] == ["width N 256 of 512", "batch 128 of 8192"]
    assert cuts["quick"] == cuts["half"] + ["steps 2^14 of 2^17"]
    runs = [(2 ** 16, 2 ** 17), (2 ** 14, 2 ** 17), (2 ** 14, 2 ** 17), (2 ** 20, 2 ** 20)]  # the runs a claim read
    assert batches.cuts(batches.PRESETS["quick"], runs)[2:] == ["steps 2^14 of 2^17", "steps 2^16 of 2^17"]
    assert batches.cuts(batches.PRESETS["half"], [(2 ** 20, 2 ** 20)]) == cuts["half"]
