"""Our stacked LAMB + schedule against the reference implementation the authors used."""
import torch
import torch_optimizer

from monosem_lib.model import StackedModel
from monosem_lib.optimize import StackedLamb, cosine_lr

STEPS = 640  # past t_max = 512, so the periodic rise of the schedule is covered too


def reference_run(d, k, n, data, lr):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(d, k), torch.nn.ReLU(), torch.nn.Linear(k, n, bias=False)).double()
    init = [p.detach().clone() for p in net.parameters()]
    opt = torch_optimizer.Lamb(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=512)
    for x, target in data:
        opt.zero_grad()
        ((net(x) - target) ** 2).sum(-1).mean().backward()
        opt.step()
        sched.step()
    return init, [p.detach() for p in net.parameters()]


def stacked_run(init, data, lr):
    model = StackedModel(*(p.clone()[None] for p in init), "relu")  # model axis of size 1
    opt = StackedLamb(model.parameters())
    for step, (x, target) in enumerate(data):
        model.backward(x[None], target[None], None)  # our hand-written gradients
        opt.step(cosine_lr(torch.tensor([lr], dtype=torch.float64), step, 512))
    return [model.W1.detach()[0], model.b.detach()[0], model.W2.detach()[0]]


def test_lamb_and_cosine_schedule_match_torch_optimizer():
    d, k, n, lr = 8, 32, 16, 0.01
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(64, d, generator=g, dtype=torch.float64),
             torch.rand(64, n, generator=g, dtype=torch.float64)) for _ in range(STEPS)]
    init, ref = reference_run(d, k, n, data, lr)
    ours = stacked_run(init, data, lr)
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, atol=1e-6, rtol=0), (a - b).abs().max()
    assert max((a - i).abs().max() for a, i in zip(ours, init)) > 0.1  # the weights really moved


def test_trust_ratio_is_per_model():
    # Two models with the same gradient but weights 10× apart must take steps 10× apart.
    p = torch.ones(2, 3, 4)
    p[1] *= 0.1
    p.requires_grad_()
    p.grad = torch.full_like(p, 0.5)
    before = p.detach().clone()
    StackedLamb([p]).step(torch.tensor([0.1, 0.1]))
    step = (before - p.detach()).flatten(1).norm(dim=1)
    assert torch.allclose(step, torch.tensor([0.1 * before[0].norm(), 0.1 * before[1].norm()]), rtol=1e-4)


def test_cosine_schedule_is_periodic():
    lr = torch.tensor([1.0])
    assert cosine_lr(lr, 0, 512).item() == 1.0
    assert abs(cosine_lr(lr, 512, 512).item()) < 1e-12
    assert abs(cosine_lr(lr, 1024, 512).item() - 1.0) < 1e-12


def test_fused_step_equals_the_plain_step_to_rounding():
    """The compiled LAMB step against the plain one: same gradients in, same update out, over
    steps and tensors of both ranks, with the moments carried along."""
    g = torch.Generator().manual_seed(3)
    shapes = [(3, 16, 8), (3, 16)]  # W (models, k, d) and b (models, k)
    start = [torch.randn(s, generator=g) for s in shapes]
    plain, fused = ([p.clone().requires_grad_() for p in start] for _ in range(2))
    opts = StackedLamb(plain), StackedLamb(fused, fused=True)
    lr = torch.tensor([0.003, 0.01, 0.03])
    for step in range(20):
        grads = [torch.randn(s, generator=g) * 0.1 for s in shapes]
        for params, opt in zip((plain, fused), opts):
            for p, grad in zip(params, grads):
                p.grad = grad.clone()
            opt.step(cosine_lr(lr, step, 512))
    for a, b in zip(plain, fused):
        assert torch.allclose(a, b, rtol=0, atol=1e-6), (a - b).abs().max()
    for a, b in zip(opts[0].exp_avg_sq + opts[0].exp_avg, opts[1].exp_avg_sq + opts[1].exp_avg):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-9), (a - b).abs().max()
    assert min((a - p0).abs().max() for a, p0 in zip(plain, start)) > 0.01  # the weights moved
