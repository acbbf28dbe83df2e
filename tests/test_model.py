"""The model's hand-written backward equals autograd's, for every activation, with L1 and masks,
with fresh tensors and with the training loop's reused buffers."""
import pytest
import torch

from monosem_lib.model import ACTIVATIONS, StackedModel, erdos_renyi_masks
from monosem_lib.scratch import Scratch


def autograd_grads(model: StackedModel, x, target, l1):
    params = [p.detach().clone().requires_grad_() for p in (model.W1, model.b, model.W2)]
    reference = StackedModel(*params, model.activation, model.masks)
    h, y = reference(x)
    task_loss = (y - target).pow(2).sum(-1).mean(-1)
    (task_loss + l1 * h.abs().sum((-2, -1)) / x.shape[1]).sum().backward()
    return task_loss.detach(), [p.grad for p in reference.parameters()]


@pytest.mark.parametrize("activation, sparse, reused", [(a, s, r) for a in ACTIVATIONS for s in (False, True)
                                                        for r in (False, True)])
def test_backward_matches_autograd(activation, sparse, reused):
    """In float64, so that rounding cannot hide a slip; `reused`: twice through one Scratch, as the
    training loop runs it (the second call must not see the first one's buffers)."""
    g = torch.Generator().manual_seed(0)
    models, batch, d, k, out = 3, 16, 4, 12, 10
    masks = None
    if sparse:
        pairs = [erdos_renyi_masks(d, k, out, 0.5, g) for _ in range(models)]
        masks = tuple(torch.stack(m).double() for m in zip(*pairs))
    params = (torch.randn(models, k, d, generator=g, dtype=torch.float64),
              torch.randn(models, k, generator=g, dtype=torch.float64),
              torch.randn(models, out, k, generator=g, dtype=torch.float64))
    model = StackedModel(*params, activation, masks)
    x = torch.randn(models, batch, d, generator=g, dtype=torch.float64)
    target = torch.rand(models, batch, out, generator=g, dtype=torch.float64)
    l1 = torch.tensor([0.0, 0.1, 1.0], dtype=torch.float64)
    loss_ref, grads_ref = autograd_grads(model, x, target, l1)
    if reused:
        scratch = Scratch()
        model.backward(x, torch.rand_like(target), l1, scratch=scratch)
        loss = model.backward(x, target.clone(), l1, scratch=scratch)
    else:
        loss = model.backward(x, target, l1)
    assert torch.allclose(loss, loss_ref)
    for ours, ref in zip((model.W1.grad, model.b.grad, model.W2.grad), grads_ref):
        assert torch.allclose(ours, ref, atol=1e-10), (ours - ref).abs().max()
    assert all(p.grad.abs().sum() > 0 for p in model.parameters())
