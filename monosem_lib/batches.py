"""The batches of the paper's Table 1 and the scale presets they can be trained at.

A batch is a sweep: `configs(batch, preset, seed)` gives one fully resolved ModelConfig per model.
"""
import dataclasses
import math

from .config import ConfigError, ModelConfig

PAPER_N, PAPER_D = 512, 64
LRS = (0.001, 0.003, 0.005, 0.007, 0.01, 0.03)


def pow2(steps: int) -> str:
    """A power of two as the pages write it: 2^17."""
    return f"2^{steps.bit_length() - 1}"


@dataclasses.dataclass(frozen=True)
class Preset:
    """How far to scale the paper down. `k` and the batch size follow the paper's rules
    (k ∝ N so k/N is kept; batch = batch_work / k, so every step costs the same at every k)."""
    name: str
    n: int
    d: int
    batch_work: int          # batch size × k
    steps: int
    lr_sweep_steps: int      # the learning-rate sweeps (LR1–LR5, RP1): their lowest lr needs more
    long_steps: int          # the runs whose figures run to 2^20 steps (E1–E4, D1 and the beyond batches against them)
    t_max: int
    lrs: tuple
    b_offsets: tuple         # B1–B5 (Figs. 8, 9)
    g_offsets: tuple         # G1 (Fig. 13)
    g_lrs: tuple
    e_eps: tuple             # E1–E4 (Figs. 18, 19)
    ks: tuple                # K0–K2, at paper scale (scaled by n / 512)
    l1s: tuple               # RG1 (Fig. 14)
    d_decays: tuple          # D1 (Fig. 23)
    cost: str                # what a full `train all` costs, measured
    protocol: str            # what its runs are, against the paper's: every page's banner says it
    max_batch: int = 2 ** 30  # on a CPU, drawing samples for a huge batch at small k costs more than the model
    precision: str = "fp32"   # CUDA matmuls; part of every model's identity (config.PRECISIONS)
    piecewise: bool = False   # filled in parts (GPU runs of minutes): pages use the models that exist

    def k(self, paper_k: int) -> int:
        return max(1, round(paper_k * self.n / PAPER_N))

    def steps_text(self) -> str:
        """Its run lengths, e.g. "2^17 steps (2^20 for E1–E4, D1 and the beyond runs against them)"."""
        others = [f"{pow2(s)} for {what}" for s, what in ((self.lr_sweep_steps, "the learning-rate sweeps"),
                  (self.long_steps, "E1–E4, D1 and the beyond runs against them")) if s != self.steps]
        return f"{pow2(self.steps)} steps" + (f" ({'; '.join(others)})" if others else "")

    def batch_size(self, k: int) -> int:
        return max(1, min(self.max_batch, self.batch_work // k))


PRESETS = {
    "paper": Preset(
        "paper", n=512, d=64, batch_work=2 ** 23, steps=2 ** 17, lr_sweep_steps=2 ** 17, long_steps=2 ** 20,
        t_max=512, lrs=LRS,
        b_offsets=(-2.0, -1.5, -1.0, -0.75, -0.5, -0.4, -0.3, -0.2, -0.15, -0.1, -0.05, 0.0, 0.5, 1.0),
        g_offsets=(-3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 1.0, 2.0, 3.0), g_lrs=(0.003, 0.01, 0.03),
        e_eps=tuple(2 ** (-10 + 0.5 * i) for i in range(16)),
        ks=(16, 32, 64, 128, 256, 384, 512, 1024, 2048),
        l1s=tuple(10.0 ** p for p in range(-7, 1)),
        d_decays=tuple(10 ** (-3.5 + 0.5 * i) for i in range(5)),
        cost="GPU only: about 30 GFLOP a step at k = 1024; on one H100 about 53 s a 2^17-step model, 7 min a 2^20-step one (`plan` gives the total)",
        protocol="the paper's protocol at the paper's scale",
        # TF32 matmuls: 0.36 ms per model-step on one H100 against 0.94 ms in fp32 (README).
        precision="tf32", piecewise=True),
    # paper → quick: a shortened protocol, for a retrain in about an hour. It stops the first-half bias
    # decay early (2^14 steps multiply an offset by 0.93 where the paper's 2^17 give 0.55 at decay
    # 0.003, lr 0.003), so its verdicts are those of a shortened run; "half" runs the paper's steps.
    # Halve N and d (N·eps/d = 1/8 kept, eps unchanged) and k with N (k/N kept); keep
    # the per-step protocol (lr, decay rate, offset, t_max = 512), because the bias-decay race is
    # per step: raising decay to keep decay·lr·steps/2 at 1/8 of the steps leaves every bias near 0
    # and no neuron monosemantic (measured, README). Cut the batch 2^23/k → 2^16/k and the steps
    # 2^17 → 2^14, except in the learning-rate sweeps: under LAMB a model moves about lr per step,
    # so lr 0.003 needs about 0.01/0.003 times lr 0.01's steps (LR3 at lr 0.003: 0.066 mono per
    # feature at 2^14 steps, 0.656 at 2^16). Thin the sweeps. Measurements and costs: README,
    # "The quick preset".
    "quick": Preset(
        "quick", n=256, d=32, batch_work=2 ** 16, steps=2 ** 14, lr_sweep_steps=2 ** 16, long_steps=2 ** 14,
        t_max=512, lrs=(0.003, 0.01, 0.03),
        b_offsets=(-2.0, -1.0, -0.5, -0.2, 0.0, 1.0),
        g_offsets=(-3.0, -2.0, -1.0, -0.5, 0.0, 1.0), g_lrs=(0.01,),
        e_eps=tuple(2.0 ** e for e in (-10, -8, -6, -5, -4, -3, -2)),
        ks=(32, 128, 512, 1024, 2048),
        l1s=(1e-5, 1e-3, 1e-1),
        d_decays=(10 ** -3.5, 10 ** -2.5, 10 ** -1.5),
        cost="train all: about 1 h on 2 CPU cores (plan; 51 min measured for Table 1 with BD and ER1, README)", max_batch=2048,
        protocol="a shortened run at half width: its 2^14 steps stop the first-half bias decay early, so its "
                 "verdicts are those of a shortened protocol (preset `half` runs the paper's steps)"),
    "smoke": Preset(
        "smoke", n=64, d=8, batch_work=2 ** 13, steps=2 ** 8, lr_sweep_steps=2 ** 9, long_steps=2 ** 8, t_max=64,
        lrs=(0.003, 0.03),
        b_offsets=(-1.0, 0.0), g_offsets=(-1.0, 0.0), g_lrs=(0.01,),
        e_eps=(2 ** -6, 2 ** -3), ks=(256, 1024), l1s=(1e-3,), d_decays=(1e-3, 1e-2),
        cost="seconds per batch: for tests", max_batch=512,
        protocol="a test-sized run (seconds a batch): its numbers test the code, not the paper"),
}

# paper → half: the paper's protocol at half width. Halve N and d (N·eps/d = 1/8 kept, eps unchanged)
# and k with N (k/N kept); keep every step of the protocol (lr, decay rate, offset, t_max = 512,
# and the run's length, so that the first-half bias decay does the paper's work: it multiplies
# an offset by about exp(-decay·lr·steps/2)). The batch is 2^16/k (128 at k = 512), the quick
# preset's: the probes in the README ("The half preset") measure what it costs. Filled in parts
# over many hours of CPU (every stack resumes where it stopped): pages use the models that exist.
PRESETS["half"] = dataclasses.replace(
    PRESETS["quick"], name="half", steps=2 ** 17, lr_sweep_steps=2 ** 17, long_steps=2 ** 20, piecewise=True,
    cost="train all: about 31 job-hours at seed 0 (plan), 16 h on 2 cores, README",
    protocol="the paper's protocol (its steps, lr, decay and offsets) at half width")
PRESETS = {name: PRESETS[name] for name in ("paper", "quick", "half", "smoke")}  # the order `list` shows


@dataclasses.dataclass(frozen=True)
class Batch:
    name: str
    title: str
    figures: str
    sweep: str               # the ModelConfig field(s) the batch varies
    base: dict               # Table 1's fixed values (paper k)
    values: callable         # preset → list of dicts, one per model, of swept fields
    lr_sweep: bool = False   # trains for the preset's lr_sweep_steps
    long_run: bool = False   # trains for the preset's long_steps (its figures' axes run to 2^20 steps)

    def steps(self, preset: Preset) -> int:
        return preset.long_steps if self.long_run else preset.lr_sweep_steps if self.lr_sweep else preset.steps

    def sweep_fields(self) -> list[str]:
        return [f.strip() for f in self.sweep.split(",")]

    def configs(self, preset: Preset, seed: int = 0) -> list[ModelConfig]:
        out = []
        steps = self.steps(preset)
        for stream, swept in enumerate(self.values(preset)):
            fields = {"d": preset.d, **self.base, **swept}
            k = preset.k(fields.pop("k", 1024))
            # Sparse layers are compared at equal compute: the batch of the dense model they match.
            batch_k = fields.pop("batch_k", None)
            batch_size = preset.batch_size(preset.k(batch_k) if batch_k else k)
            out.append(ModelConfig(n=preset.n, k=k, batch_size=batch_size, steps=steps, t_max=preset.t_max,
                                   seed=seed, stream=stream, precision=preset.precision, **fields))
        return out


def _lrs(p: Preset):
    return [{"lr": lr} for lr in p.lrs]


def _b(eps: float, decay: float):
    return Batch(f"B?", f"Offset sweep at eps = {eps}", "8, 9", "offset",
                 dict(eps=eps, lr=0.003, decay=decay), lambda p: [{"offset": o} for o in p.b_offsets])


def _e(decay: float):
    return dict(lr=0.003, decay=decay, offset=-1.0)


def _registry() -> dict[str, Batch]:
    uni, power = dict(distribution="uniform"), dict(distribution="power-law")
    lr3 = dict(decay=0.03, offset=-1.0)
    batches = [
        Batch("LR1", "Learning-rate sweep, zero offset", "1 left, 3, 4, 5", "lr", dict(**uni), _lrs, True),
        Batch("LR2", "Learning-rate sweep, power-law features", "6", "lr", dict(**power), _lrs, True),
        Batch("LR3", "Learning-rate sweep, offset -1 and bias decay", "1 right, 7, 10, 11", "lr",
              dict(**uni, **lr3), _lrs, True),
        *[dataclasses.replace(_b(eps, decay), name=f"B{i + 1}")
          for i, (eps, decay) in enumerate([(1 / 16, 0.03), (1 / 32, 0.003), (1 / 64, 0.003),
                                            (1 / 128, 0.003), (1 / 256, 0.003)])],
        Batch("LR4", "Learning-rate sweep, power-law features, offset -1 and bias decay", "12", "lr",
              dict(**power, **lr3), _lrs, True),
        Batch("G1", "GeLU: offset × learning-rate sweep (Table 1's second 'B3')", "13", "offset, lr",
              dict(activation="gelu", decay=0.03),
              lambda p: [{"lr": lr, "offset": o} for lr in p.g_lrs for o in p.g_offsets]),
        *[Batch(f"E{i + 1}", f"Feature-frequency sweep, bias decay {decay}", "18, 19, 20, 24, 25, 26", "eps",
                _e(decay), lambda p: [{"eps": e} for e in p.e_eps], long_run=True)
          for i, decay in enumerate((0.03, 0.01, 0.003, 0.001))],
        *[Batch(name, f"Neuron-count sweep{title}", "15, 16, 17", "k", dict(lr=0.007, **fixed),
                lambda p: [{"k": k} for k in p.ks])
          for name, title, fixed in [("K0", ", zero offset", dict(decay=0.0, offset=0.0)),
                                     ("K1", ", offset -1 and bias decay", dict(decay=0.03, offset=-1.0)),
                                     ("K2", ", power-law, offset -1 and bias decay",
                                      dict(decay=0.03, offset=-1.0, **power))]],
        # The text says the L1 models start at zero mean bias, Table 1 says -1: we follow the text
        # for the L1 models and add Table 1's unregularised offset -1 model as the reference.
        Batch("RG1", "L1 regularisation sweep (L1 models at offset 0) vs offset -1", "14", "l1",
              dict(lr=0.005, decay=0.03),
              lambda p: [{"l1": s, "offset": 0.0} for s in p.l1s] + [{"l1": 0.0, "offset": -1.0}]),
        Batch("RP1", "Random re-projector, learning-rate sweep", "21", "lr",
              dict(task="re-projector", **lr3), _lrs, True),
        Batch("LR5", "Absolute value, learning-rate sweep", "22", "lr", dict(task="abs", k=2048, **lr3), _lrs, True),
        Batch("D1", "Absolute value, bias-decay sweep", "23", "decay",
              dict(task="abs", k=2048, lr=0.007, offset=-1.0), lambda p: [{"decay": x} for x in p.d_decays],
              long_run=True),
    ]
    return {b.name: b for b in batches}


def _extras() -> dict[str, Batch]:
    """Runs the paper reports without a Table 1 row."""
    lr3 = dict(lr=0.01, decay=0.03, offset=-1.0)
    return {b.name: b for b in [
        # Claim 3 / Fig. 11: the positive-bias band is d + 1 wide at d = 32, 64, 128 (paper scale).
        Batch("BD", "Band width against d (LR3 protocol at d/2, d, 2d)", "11", "d", lr3,
              lambda p: [{"d": p.d * f // 2} for f in (1, 2, 4)]),
        # Claim 7, §4.1.4: Erdős–Rényi sparse layers against a dense layer at equal compute
        # (k × density fixed, same batch size).
        Batch("ER1", "Erdős–Rényi sparse layers vs dense at equal compute", "§4.1.4", "k, density",
              dict(lr=0.007, decay=0.03, offset=-1.0, batch_k=256),
              lambda p: [{"k": 256 * f, "density": 1 / f} for f in (1, 2, 4)]),
    ]}


# Beyond the paper (its §6): the three remedies for the fragile bias decay (remedies.py), each at one
# setting fixed before any was trained (the middle of its strength sweep), against the paper's protocol
# at equal training length (the preset's steps) where that protocol is fragile.
REMEDY_SETTINGS = {                                  # each replaces the paper's decay
    "paper": dict(decay=0.03, offset=-1.0),          # LR3's protocol
    "silent": dict(silent_decay=0.3, offset=-1.0),
    "tied": dict(tied_decay=0.3, offset=-1.0),
    "regulariser": dict(bias_reg=1.0, offset=0.0),
}


PROTOCOL = "offset, decay, silent_decay, tied_decay, bias_reg"  # the fields that tell the protocols apart


def _remedies(**overrides):
    """The sweep of the four protocols at their settings, each updated by `overrides[its name]`."""
    return lambda p: [{**setting, **overrides.get(name, {})} for name, setting in REMEDY_SETTINGS.items()]


def _beyond() -> dict[str, Batch]:
    uni = dict(distribution="uniform")
    strengths = {"decay": (0.3, 3.0), "silent_decay": (0.03, 3.0), "tied_decay": (0.03, 3.0), "bias_reg": (0.1, 10.0)}
    return {b.name: b for b in [
        Batch("XL", "Remedies across the learning-rate range (decoder, against LR3)", "beyond", "lr, " + PROTOCOL,
              dict(**uni), lambda p: [{"lr": lr, **s} for lr in p.lrs for s in REMEDY_SETTINGS.values()]),
        # XL trains for the preset's steps; LR3's slowest lr needs the lr sweeps' length to learn at all.
        Batch("XLS", "Remedies at the slowest lr, trained as long as LR3", "beyond", "lr, " + PROTOCOL,
              dict(**uni), lambda p: [{"lr": p.lrs[0], **s} for s in REMEDY_SETTINGS.values()], lr_sweep=True),
        # The strengths on both sides of each setting (XL's lr 0.01 models hold the settings), and the
        # zero-mean-bias start with no decay that the paper's regulariser is measured against.
        Batch("XS", "Remedy strengths swept (decoder, lr 0.01)", "beyond", PROTOCOL, dict(lr=0.01, **uni),
              lambda p: [{field: v, "offset": 0.0 if field == "bias_reg" else -1.0}
                         for field, values in strengths.items() for v in values] + [{"offset": 0.0}]),
        Batch("XA", "Remedies on the absolute-value task (against D1)", "beyond", PROTOCOL,
              dict(task="abs", k=2048, lr=0.007),
              lambda p: [{"decay": 10 ** -1.5, "offset": -1.0}] + _remedies(paper=dict(decay=0.3))(p), long_run=True),
        Batch("XE", "Remedies at sparse features (against E1)", "beyond", PROTOCOL, dict(lr=0.003, eps=2 ** -8),
              _remedies(), long_run=True),
        Batch("XB", "Remedies from a dead start, offset -2 (against B3)", "beyond", PROTOCOL,
              dict(lr=0.003, eps=1 / 64), _remedies(paper=dict(decay=0.003, offset=-2.0), silent=dict(offset=-2.0),
                                                     tied=dict(offset=-2.0), regulariser=dict(offset=-2.0))),
    ]}


BATCHES = _registry()
TABLE_1 = tuple(BATCHES)
BATCHES.update(_extras())
_BEYOND = _beyond()
BEYOND = tuple(_BEYOND)
BATCHES.update(_BEYOND)


def get_batch(name: str) -> Batch:
    if name not in BATCHES:
        raise ConfigError(f"unknown batch {name!r}; valid: {', '.join(BATCHES)}")
    return BATCHES[name]


# The book's preset (`make book`, and every command's default): every model of it at seed 0 is
# published (tests/test_store_cli.py), so a fresh clone builds the book without training.
DEFAULT_PRESET = "quick"
RENAMED = {"cpu": "quick"}  # earlier names, so that an old command's error says what it is now


def cuts(preset: Preset, steps=None) -> list[str]:
    """How `preset` scales the paper's run down (width, batch, steps), each as ours against the
    paper's: the factors a claim that does not reproduce at `preset` may still be missing. `steps`:
    the (ours, the paper's) step counts of the runs a claim read; by default the preset's main run."""
    paper, k = PRESETS["paper"], 2 * PAPER_N  # compared at Table 1's usual k = 2N
    out = [f"{name} {ours} of {theirs}" for name, ours, theirs in
           (("width N", preset.n, paper.n), ("batch", preset.batch_size(preset.k(k)), paper.batch_size(k)))
           if ours != theirs]
    short = sorted({pair for pair in (steps or [(preset.steps, paper.steps)]) if pair[0] != pair[1]})
    return out + [f"steps {pow2(ours)} of {pow2(theirs)}" for ours, theirs in short]


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        renamed = f" (preset {name!r} is now {RENAMED[name]!r})" if name in RENAMED else ""
        raise ConfigError(f"unknown preset {name!r}{renamed}; valid: {', '.join(PRESETS)}")
    return PRESETS[name]


def configs(batch: str, preset: str = DEFAULT_PRESET, seed: int = 0) -> list[ModelConfig]:
    """The fully resolved configs of every model in `batch` at `preset`."""
    return get_batch(batch).configs(get_preset(preset), seed)


def parse_only(text: str) -> tuple[str, list[float]]:
    """`--only FIELD=V1,V2`: a ModelConfig field and the values to keep."""
    field, _, values = text.partition("=")
    numeric = [f.name for f in dataclasses.fields(ModelConfig) if f.type in ("float", "int", float, int)]
    if field not in numeric or not values:
        raise ConfigError(f"--only takes FIELD=V1,V2,… with FIELD one of {', '.join(numeric)}; got {text!r}")
    try:
        return field, [float(v) for v in values.split(",")]
    except ValueError:
        raise ConfigError(f"--only {field}= takes numbers, got {values!r}") from None


def select(batch: str, preset: str, seed: int, only: list[tuple[str, list[float]]] = (),
           precision: str | None = None) -> list[ModelConfig]:
    """The models of a sweep whose fields take the given values (at another matmul precision than
    the preset's, if given). Each keeps its config, and so its random stream, from the full sweep:
    a model trained in a thinned run is the sweep's own."""
    every = configs(batch, preset, seed)
    if precision is not None:
        every = [dataclasses.replace(c, precision=precision) for c in every]
    kept = [c for c in every if all(any(math.isclose(getattr(c, f), v, rel_tol=1e-4) for v in values)
                                    for f, values in only)]
    if not kept:
        values = {f: sorted({getattr(c, f) for c in every}) for f, _ in only}
        raise ConfigError(f"no model of {batch} at preset {preset!r} matches "
                          f"{'; '.join(f'{f} in {v}' for f, v in only)}; its values: "
                          f"{'; '.join(f'{f} = ' + ', '.join(f'{x:g}' for x in v) for f, v in values.items())}")
    return kept


def holders(config: ModelConfig) -> list[tuple[str, str]]:
    """Every (batch, preset) whose sweep holds this model, precision aside. Sweeps overlap: at the
    quick preset E3's eps = 1/256 model is B5's offset -1 model."""
    plain = dataclasses.replace(config, precision="fp32")
    return [(name, preset) for preset in PRESETS for name in BATCHES
            if any(dataclasses.replace(c, precision="fp32") == plain for c in configs(name, preset, config.seed))]


def locate(config: ModelConfig) -> tuple[str, str] | None:
    """The first (batch, preset) whose sweep holds this model, precision aside; None if no sweep does."""
    found = holders(config)
    return found[0] if found else None
