"""The fully resolved configuration of one model, and its validation."""
import dataclasses
import hashlib
import json
import math

from .features import DISTRIBUTIONS
from .model import ACTIVATIONS
from .tasks import TASKS


PRECISIONS = ("fp32", "tf32")  # float32 matmuls on CUDA: full fp32, or TF32 tensor cores


class ConfigError(ValueError):
    """Bad user input: the message names the problem and the valid choices."""


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    task: str = "decoder"
    activation: str = "relu"
    distribution: str = "uniform"
    n: int = 512            # features N
    d: int = 64             # input (embedding) dimension, m in the authors' code
    k: int = 1024           # neurons in the nonlinear layer
    eps: float = 1 / 64     # mean feature frequency
    lr: float = 0.003
    decay: float = 0.0      # bias decay rate (first half of training)
    offset: float = 0.0     # added to the default-initialised bias
    l1: float = 0.0         # L1 penalty on activations
    density: float = 1.0    # Erdős–Rényi edge density of both linear layers (1 = dense)
    batch_size: int = 8192
    steps: int = 2 ** 17
    t_max: int = 512        # cosine schedule half-period
    seed: int = 0           # draws P and Q, shared by a sweep
    stream: int = 0         # draws this model's init and data: its index in the preset's full sweep
    precision: str = "fp32"  # CUDA matmuls (fp32 or tf32); on a CPU every matmul is fp32 either way
    # Beyond the paper (its §6 remedies for the fragile bias decay; monosem_lib/remedies.py):
    silent_decay: float = 0.0   # extra decay rate of a neuron silent on the step's batch (first half)
    tied_decay: float = 0.0     # extra decay rate scaled by 1 - the weights' recent coherence (first half)
    bias_reg: float = 0.0       # pull of every bias towards bias_target, the whole run
    bias_target: float = -1.0

    def __post_init__(self):
        check(self.task in TASKS, f"unknown task {self.task!r}; valid: {', '.join(TASKS)}")
        check(self.activation in ACTIVATIONS,
              f"unknown activation {self.activation!r}; valid: {', '.join(ACTIVATIONS)}")
        check(self.distribution in DISTRIBUTIONS,
              f"unknown feature distribution {self.distribution!r}; valid: {', '.join(DISTRIBUTIONS)}")
        check(self.precision in PRECISIONS,
              f"unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}")
        for name in ("n", "d", "k", "batch_size", "steps", "t_max"):
            check(int(getattr(self, name)) == getattr(self, name) and getattr(self, name) > 0,
                  f"{name} must be a positive integer, got {getattr(self, name)!r}")
        check(0 < self.eps <= 1, f"eps must lie in (0, 1], got {self.eps!r}")
        check(self.lr > 0, f"lr must be > 0, got {self.lr!r}")
        check(self.decay >= 0 and self.decay * self.lr < 1,
              f"decay must satisfy 0 <= decay·lr < 1, got decay={self.decay!r}, lr={self.lr!r}")
        for name in ("silent_decay", "tied_decay", "bias_reg"):
            check(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)!r}")
        check((self.decay + self.silent_decay + self.tied_decay) * self.lr < 1,
              f"the bias decay rates must satisfy (decay + silent_decay + tied_decay)·lr < 1, got "
              f"decay={self.decay!r}, silent_decay={self.silent_decay!r}, tied_decay={self.tied_decay!r}, lr={self.lr!r}")
        check(self.bias_reg * self.lr < 1,
              f"bias_reg must satisfy bias_reg·lr < 1 (else each step overshoots the target), got "
              f"bias_reg={self.bias_reg!r}, lr={self.lr!r}")
        check(math.isfinite(self.bias_target), f"bias_target must be a finite number, got {self.bias_target!r}")
        check(self.l1 >= 0, f"l1 must be >= 0, got {self.l1!r}")
        check(0 < self.density <= 1, f"density must lie in (0, 1], got {self.density!r}")

    def stack_key(self) -> tuple:
        """Models with equal keys share tensor shapes and a step count, so they train stacked."""
        return (self.task, self.activation, self.n, self.d, self.k, self.density,
                self.batch_size, self.steps, self.t_max, self.precision)

    def to_dict(self) -> dict:
        """The model's identity (its store key hashes this). A remedy field at its default is left
        out, so every model trained before the remedies existed keeps its key."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in REMEDY_DEFAULTS or v != REMEDY_DEFAULTS[k]}


REMEDY_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ModelConfig)
                   if f.name in ("silent_decay", "tied_decay", "bias_reg", "bias_target")}


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def config_hash(payload) -> str:
    """A stable short hash of any JSON-serialisable description."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
