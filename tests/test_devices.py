"""Devices and precision: every tensor the trainer makes names its device, and on CUDA (when a GPU is
at hand; skipped elsewhere) the trainer, LAMB and the hand-written backward do what they do on the CPU."""
import dataclasses

import pytest
import torch
import torch_optimizer

from monosem_lib import training
from monosem_lib.config import ModelConfig
from monosem_lib.model import ACTIVATIONS, StackedModel
from monosem_lib.optimize import StackedLamb, cosine_lr
from monosem_lib.training import train

BASE = ModelConfig(n=32, d=8, k=48, batch_size=32, steps=64, t_max=16, eps=1 / 8)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


def sweep(precision="fp32"):
    return [dataclasses.replace(BASE, lr=0.003, stream=0, precision=precision),
            dataclasses.replace(BASE, lr=0.03, decay=0.3, offset=-1.0, stream=1, precision=precision),
            dataclasses.replace(BASE, lr=0.01, l1=0.01, eps=1 / 4, distribution="power-law", stream=2,
                                precision=precision)]


def test_every_tensor_the_trainer_makes_names_its_device():
    # With "meta" as the default device, a tensor made without naming its device (a random draw on
    # a CUDA generator into a CPU tensor, say) lands on meta and the step fails.
    torch.set_default_device("meta")
    try:
        result = train(sweep(), "cpu", progress=False)[0]
    finally:
        torch.set_default_device(None)
    assert result.W1.device.type == "cpu" and torch.isfinite(result.loss).all()


def test_precision_is_part_of_identity_and_changes_nothing_on_cpu():
    fp32, tf32 = train([BASE], progress=False)[0], train([dataclasses.replace(BASE, precision="tf32")], progress=False)[0]
    assert BASE.stack_key() != dataclasses.replace(BASE, precision="tf32").stack_key()
    assert torch.equal(fp32.W1, tf32.W1) and torch.equal(fp32.loss, tf32.loss)
    assert fp32.provenance["precision"] == tf32.provenance["precision"] == "fp32"  # what the CPU really did
    assert fp32.provenance["device_kind"] == "cpu" and fp32.provenance["torch"] == str(torch.__version__)


@cuda
def test_cuda_stacked_models_equal_single_runs_and_repeat_exactly():
    configs = sweep()
    stacked = train(configs, "cuda", progress=False)
    for c, s in zip(configs, stacked):
        alone = train([c], "cuda", progress=False)[0]
        for name in ("W1", "b", "W2"):
            assert torch.allclose(getattr(s, name), getattr(alone, name), atol=1e-5), name
        assert s.W1.device.type == "cpu" and s.provenance["device_kind"] == "cuda"
    again = train(configs, "cuda", progress=False)
    assert all(torch.equal(a.W1, b.W1) and torch.equal(a.loss, b.loss) for a, b in zip(stacked, again))


@cuda
def test_cuda_tf32_is_close_to_fp32_and_the_setting_is_restored():
    before = torch.backends.cuda.matmul.fp32_precision
    fp32 = train(sweep("fp32"), "cuda", progress=False)
    tf32 = train(sweep("tf32"), "cuda", progress=False)
    assert torch.backends.cuda.matmul.fp32_precision == before
    assert tf32[0].provenance["precision"] == "tf32"
    for a, b in zip(fp32, tf32):
        assert (a.loss - b.loss).abs().max() < 0.05 * a.loss.abs().max()


@cuda
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_cuda_backward_matches_autograd(activation):
    g = torch.Generator().manual_seed(0)
    models, batch, d, k, out = 3, 16, 4, 12, 10
    params = [torch.randn(shape, generator=g, dtype=torch.float64).cuda()
              for shape in ((models, k, d), (models, k), (models, out, k))]
    x = torch.randn(models, batch, d, generator=g, dtype=torch.float64).cuda()
    target = torch.rand(models, batch, out, generator=g, dtype=torch.float64).cuda()
    l1 = torch.tensor([0.0, 0.1, 1.0], dtype=torch.float64).cuda()
    reference = StackedModel(*[p.clone().requires_grad_() for p in params], activation)
    h, y = reference(x)
    task_loss = (y - target).pow(2).sum(-1).mean(-1)
    (task_loss + l1 * h.abs().sum((-2, -1)) / batch).sum().backward()
    model = StackedModel(*[p.clone() for p in params], activation)
    assert torch.allclose(model.backward(x, target, l1), task_loss.detach())
    for ours, ref in zip((model.W1.grad, model.b.grad, model.W2.grad), reference.parameters()):
        assert torch.allclose(ours, ref.grad, atol=1e-10)


@cuda
def test_cuda_lamb_matches_torch_optimizer():
    d, k, n, lr = 8, 32, 16, 0.01
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(64, d, generator=g, dtype=torch.float64).cuda(),
             torch.rand(64, n, generator=g, dtype=torch.float64).cuda()) for _ in range(640)]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(d, k), torch.nn.ReLU(), torch.nn.Linear(k, n, bias=False)).double().cuda()
    model = StackedModel(*(p.detach().clone()[None] for p in net.parameters()), "relu")
    opt, ours = torch_optimizer.Lamb(net.parameters(), lr=lr), StackedLamb(model.parameters())
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=512)
    for step, (x, target) in enumerate(data):
        opt.zero_grad()
        ((net(x) - target) ** 2).sum(-1).mean().backward()
        opt.step()
        sched.step()
        model.backward(x[None], target[None], None)
        ours.step(cosine_lr(torch.tensor([lr], dtype=torch.float64, device="cuda"), step, 512))
    for a, b in zip((model.W1[0], model.b[0], model.W2[0]), net.parameters()):
        assert torch.allclose(a, b, atol=1e-6, rtol=0)


def test_matmul_precision_is_set_and_restored():
    before = torch.backends.cuda.matmul.fp32_precision
    with training.matmul_precision("tf32"):
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"
        with training.matmul_precision("fp32"):
            assert torch.backends.cuda.matmul.fp32_precision == "ieee"
    assert torch.backends.cuda.matmul.fp32_precision == before
