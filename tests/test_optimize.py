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


def test_the_step_is_the_plain_formula_bit_for_bit_on_zeros_and_subnormals():
    """sqrt(max(v, TINY)) in place of sqrt(v): the same bits wherever v is 0, subnormal or normal."""
    g = torch.Generator().manual_seed(3)
    shapes = [(3, 16, 8), (3, 16)]  # W (models, k, d) and b (models, k)
    params = [torch.randn(s, generator=g) for s in shapes]
    reference = [p.clone() for p in params]
    moments = [[torch.zeros(s) for s in shapes] for _ in range(2)]
    opt = StackedLamb([p.requires_grad_() for p in params])
    lr = torch.tensor([0.003, 0.01, 0.03])
    tiny = torch.finfo(torch.float32).tiny
    for step in range(20):
        grads = [torch.randn(s, generator=g) * torch.randint(0, 2, s, generator=g) for s in shapes]  # half zeros
        grads[0][0, 0, :4] = torch.tensor([tiny / 3, tiny / 100, 1e-20, 0.0])  # v subnormal or 0
        for p, grad in zip(params, grads):
            p.grad = grad.clone()
        opt.step(cosine_lr(lr, step, 512))
        for p, grad, m, v in zip(reference, grads, *moments):
            m.mul_(0.9).add_(grad, alpha=0.1)
            v.mul_(0.999).addcmul_(grad, grad, value=0.001)
            update = m / (v.sqrt() + 1e-6)
            w, u = p.flatten(1).norm(dim=1).clamp(0, 10), update.flatten(1).norm(dim=1)
            trust = torch.where((w > 0) & (u > 0), w / u, torch.ones_like(w))
            p.sub_(update * (cosine_lr(lr, step, 512) * trust).view(-1, *([1] * (p.dim() - 1))))
    assert ((opt.exp_avg_sq[0] > 0) & (opt.exp_avg_sq[0] < tiny)).any()  # the case the clamp is for
    for ours, theirs in zip(params, reference):
        assert torch.equal(ours, theirs)
