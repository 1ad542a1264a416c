"""ads_bench.networks: shapes, zero initialisation, configurable sizes, trunk sharing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ads_bench.networks import FourierTimeEmbedding, PolicyNet, TimeScaleNet, Trunk


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def test_fourier_embedding(gen):
    emb = FourierTimeEmbedding(hidden=32, n_freq=64)
    torch.testing.assert_close(emb.freqs, torch.linspace(0.1, 100.0, 64))
    assert "freqs" in dict(emb.named_buffers())  # fixed frequencies, not trained
    assert isinstance(emb.phase, nn.Parameter) and emb.phase.shape == (64,)
    assert emb(torch.rand(5, generator=gen)).shape == (5, 32)
    assert emb(torch.rand(3, 4, generator=gen)).shape == (3, 4, 32)
    # sin and cos of 64 frequencies feed the first linear layer
    assert _linears(emb)[0].in_features == 128


@pytest.mark.parametrize(("hidden", "layers", "n_freq"), [(64, 2, 64), (16, 0, 8), (32, 4, 16)])
def test_policy_net_sizes_and_zero_init(gen, hidden, layers, n_freq):
    d = 3
    net = PolicyNet(d, hidden, layers, n_freq)
    # state embedding + 2 in the time MLP + `layers` hidden + head
    assert len(_linears(net)) == 1 + 2 + layers + 1
    assert net.trunk.state_embed.in_features == d and net.trunk.state_embed.out_features == hidden
    assert net.head.in_features == hidden and net.head.out_features == 2 * d
    x, t = torch.randn(7, d, generator=gen), torch.rand(7, generator=gen)
    mean, log_var = net(x, t)
    assert mean.shape == log_var.shape == (7, d)
    assert torch.equal(mean, torch.zeros(7, d)) and torch.equal(log_var, torch.zeros(7, d))
    assert net.trunk(x, t).shape == (7, hidden)


def test_policy_net_batched_leading_dims_match_flat(gen):
    net = PolicyNet(2, 16, 2, 8)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    x, t = torch.randn(4, 5, 2, generator=gen), torch.rand(4, 5, generator=gen)
    a, b = net(x, t)
    a2, b2 = net(x.reshape(20, 2), t.reshape(20))
    torch.testing.assert_close(a.reshape(20, 2), a2)
    torch.testing.assert_close(b.reshape(20, 2), b2)
    assert not torch.equal(a, torch.zeros_like(a))


def test_head_splits_mean_and_log_var(gen):
    net = PolicyNet(2, 8, 1, 4)
    with torch.no_grad():
        net.head.bias.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    mean, log_var = net(torch.zeros(1, 2), torch.zeros(1))
    assert mean.tolist() == [[1.0, 2.0]] and log_var.tolist() == [[3.0, 4.0]]


def test_shared_trunk_is_the_same_object():
    trunk = Trunk(2, 16, 2, 8)
    a, b = PolicyNet(2, trunk=trunk), PolicyNet(2, trunk=trunk)
    assert a.trunk is b.trunk is trunk
    assert a.head is not b.head
    shared = {id(p) for p in a.parameters()} & {id(p) for p in b.parameters()}
    assert shared == {id(p) for p in trunk.parameters()}
    with pytest.raises(ValueError, match="dim"):
        PolicyNet(3, trunk=trunk)


def test_time_scale_net_starts_at_init(gen):
    net = TimeScaleNet(3, hidden=16, n_freq=8)
    out = net(torch.rand(6, generator=gen))
    assert out.shape == (6, 3) and torch.equal(out, torch.ones(6, 3))
    assert torch.equal(TimeScaleNet(2, 8, 4, init=0.0)(torch.rand(2)), torch.zeros(2, 2))


def test_gradients_reach_every_parameter(gen):
    net = PolicyNet(2, 16, 2, 8)
    with torch.no_grad():
        net.head.weight.normal_(generator=gen)
    a, b = net(torch.randn(5, 2, generator=gen), torch.rand(5, generator=gen))
    (a.square().sum() + b.sum()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
