"""The compiled training update of a seed ensemble (``train.compile=true``).

One iteration of :mod:`ads_bench.ensemble` is, in order: the seeds' random draws (noise, replay
samples) from their own generators, done eagerly; then three kinds of compiled graphs, each a
``torch.compile(fullgraph=True)`` of a ``torch.func.vmap`` (over the seed dimension ``S``) of a
``functional_call`` of the ordinary single-seed code:

1. a **sampling step** ``x_i -> x_{i+1}`` of the generation process (on-policy) or
   ``x_{i+1} -> x_i`` of the destruction process (off-policy, from replayed terminal states), called
   ``T`` times with the step index as a tensor, so one graph serves every step of every ``T``;
2. the **log-reward** ``log R(x_T)`` of the sampled terminal states (on-policy only);
3. the **update**: the objective on the sampled states ``[S, B, T+1, D]``, its gradients
   (``torch.func.grad_and_value``), the per-seed non-finite flags, per-seed gradient-norm clipping of
   every parameter group (as ``torch.nn.utils.clip_grad_norm_``), Adam (the formula of
   ``torch.optim.Adam``: elementwise, so stacked tensors give exactly per-seed Adam) and the EMA of
   the destruction target network; parameters, Adam moments and the target network are updated in
   place, and only for the seeds whose flags are all true (a diverging seed keeps its last good
   parameters without a host round trip).

The update returns every seed's loss and flags in one tensor, which the caller reads with the
iteration's one host synchronisation. Compilation cost does not grow with ``T``: the rollout is a
loop over one step graph rather than an unrolled graph of ``T`` network evaluations (a graph of the
whole rollout took over 7 minutes to compile at ``T = 100``), and the update's graph sees ``T`` only
as a tensor dimension. Each graph is compiled once per configuration (``dynamic=False``; the step
index, learning rates, Adam's step count and the exploration noise level are tensors, not
constants).

Not covered: the reparameterised objective ``kl`` (its gradient runs through the rollout itself, so
the rollout cannot be a loop of separate graphs);
:func:`ads_bench.ensemble.loop.check_ensemble_config` refuses it.

Shapes: parameters ``[S, ...]``; states ``[S, B, T+1, D]``; noise ``[S, B, T+1, D]``; log-rewards
``[S, B]``; losses ``[S]``; flags ``[n_flags, S]`` (loss, log-weight, then one per parameter group).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value, vmap

__all__ = ["CompiledUpdate", "adam_reference_step"]

#: ``torch.compile`` backend of the graphs; most tests use ``"eager"`` (the same captured graphs,
#: run as they are, without inductor's generated C++, which takes about a minute to build here).
BACKEND = "inductor"
BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults, which every run's optimiser uses
EPS = 1e-8


def adam_reference_step(
    p: Tensor, g: Tensor, m: Tensor, v: Tensor, step: Tensor, lr: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One Adam step (Kingma & Ba 2015, Algorithm 1, in ``torch.optim.Adam``'s arrangement):
    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`` with ``t`` = ``step`` (the
    step being taken, a float64 scalar tensor). Returns new ``(p, m, v)``; any shapes that
    broadcast."""
    b1, b2 = BETAS
    m = m.lerp(g, 1.0 - b1)
    v = v * b2 + (1.0 - b2) * g * g
    bc1 = 1.0 - b1**step
    bc2_sqrt = torch.sqrt(1.0 - b2**step)
    denom = torch.sqrt(v) / bc2_sqrt.to(v.dtype) + EPS
    return p - (lr / bc1).to(p.dtype) * (m / denom), m, v


def _rows(x: Tensor) -> Tensor:
    """``[S, ...]`` -> ``[S, n]`` (a per-seed scalar such as log Z gives ``[S, 1]``)."""
    return x.reshape(x.shape[0], -1)


def _per_seed(flag: Tensor, like: Tensor) -> Tensor:
    """``flag`` ``[S]`` viewed to broadcast against ``like`` ``[S, ...]``."""
    return flag.view(-1, *([1] * (like.ndim - 1)))


class CompiledUpdate:
    """The compiled graphs of one seed ensemble (:mod:`ads_bench.ensemble.seed_ensemble`).

    Args:
        call: the ensemble's ``SeedCall`` module (single-seed model wrapped so ``functional_call``
            can swap stacked parameters in).
        params: stacked parameters by ``functional_call`` name (``"model.<name>"``), ``[S, ...]``;
            updated in place.
        groups: parameter group -> names (in ``params``) of its trainable tensors.
        lrs: parameter group -> learning rate.
        grad_clip: per-group max gradient norm, or ``None``.
        ema: ``(target name, live name)`` pairs of the destruction target network, and its rate.
        compile: ``False`` runs the same functions eagerly (the tests' reference for the graphs).
    """

    def __init__(
        self,
        call: nn.Module,
        params: dict[str, Tensor],
        groups: dict[str, list[str]],
        lrs: dict[str, float],
        *,
        grad_clip: float | None,
        ema: tuple[list[tuple[str, str]], float] | None,
        compile: bool = True,
    ):
        self.call = call
        self.params = {n: p.detach() for n, p in params.items()}  # same storage, no autograd
        self.groups = groups
        self.trainable = [n for names in groups.values() for n in names]
        self.frozen = [n for n in self.params if n not in set(self.trainable)]
        ref = next(iter(self.params.values()))
        self.lrs = {g: torch.tensor(lr, dtype=torch.float64) for g, lr in lrs.items()}
        self.grad_clip = grad_clip
        self.ema = ema
        self.m = {n: torch.zeros_like(self.params[n]) for n in self.trainable}
        self.v = {n: torch.zeros_like(self.params[n]) for n in self.trainable}
        self.step_count = torch.zeros((), dtype=torch.float64)  # Adam's t before this step
        self.steps = [torch.tensor(i) for i in range(call.model.steps)]
        self.device = ref.device

        if compile:
            # Dynamo keys its compiled code on the function's code object and guards on ``self``,
            # so every ensemble would add a cache entry until the recompile limit (8) silently
            # falls back to eager; each ensemble starts from an empty cache instead (the generated
            # code stays in inductor's on-disk cache, so an identical config recompiles in seconds).
            torch._dynamo.reset()

        def wrap(fn):
            if not compile:
                return fn
            return torch.compile(fn, fullgraph=True, dynamic=False, backend=BACKEND)

        self._gen_step = wrap(self._gen_step_fn)
        self._dest_step = wrap(self._dest_step_fn)
        self._reward = wrap(self._reward_fn)
        self._update = wrap(self._update_fn)

    # ------------------------------------------------------------------ the functions compiled
    def _call(self, params: dict, kind: str, *args):
        return functional_call(self.call, params, (kind, *args), tie_weights=False)

    def _gen_step_fn(self, params, x, i, noise_i, expl):
        return vmap(lambda p, x, n: self._call(p, "gen_step", x, i, n, expl))(params, x, noise_i)

    def _dest_step_fn(self, params, x, i, noise_i):
        return vmap(lambda p, x, n: self._call(p, "dest_step", x, i, n))(params, x, noise_i)

    def _reward_fn(self, x_T):
        S, B, D = x_T.shape
        return self.call.log_reward(x_T.reshape(S * B, D)).reshape(S, B)

    def _update_fn(self, train_p, frozen_p, m, v, step, lrs, active, states, log_r):
        def loss(tp, fp, states, log_r):
            total, log_w = self._call({**tp, **fp}, "objective", states, log_r)
            return total, log_w

        grads, (total, log_w) = vmap(grad_and_value(loss, has_aux=True))(
            train_p, frozen_p, states, log_r
        )
        flags = [torch.isfinite(total), _rows(torch.isfinite(log_w)).all(1)]
        for names in self.groups.values():
            flags.append(
                torch.stack([_rows(torch.isfinite(grads[n])).all(1) for n in names]).all(0)
            )
        flags = torch.stack(flags)  # [n_flags, S]
        ok = active & flags.all(0)
        step = step + 1.0
        with torch.no_grad():
            for g, names in self.groups.items():
                gs = [grads[n] for n in names]
                if self.grad_clip is not None:
                    norms = torch.stack([torch.linalg.vector_norm(_rows(x), dim=1) for x in gs])
                    total_norm = torch.linalg.vector_norm(norms, dim=0)  # [S]
                    coef = (self.grad_clip / (total_norm + 1e-6)).clamp(max=1.0)
                    gs = [x * _per_seed(coef, x).to(x.dtype) for x in gs]
                for n, grad in zip(names, gs, strict=True):
                    p_new, m_new, v_new = adam_reference_step(
                        train_p[n], grad, m[n], v[n], step, lrs[g]
                    )
                    keep = _per_seed(ok, p_new)
                    train_p[n].copy_(torch.where(keep, p_new, train_p[n]))
                    m[n].copy_(torch.where(keep, m_new, m[n]))
                    v[n].copy_(torch.where(keep, v_new, v[n]))
            if self.ema is not None:
                pairs, rate = self.ema
                for tgt, src in pairs:
                    new = frozen_p[tgt].lerp(train_p[src], rate)
                    frozen_p[tgt].copy_(torch.where(_per_seed(ok, new), new, frozen_p[tgt]))
        return total.detach(), flags

    # ------------------------------------------------------------------ one iteration
    def rollout_forward(self, noise: Tensor, exploration: Tensor) -> tuple[Tensor, Tensor]:
        """On-policy states ``[S, B, T+1, D]`` from ``noise`` ``[S, B, T+1, D]``, and ``log R(x_T)``
        ``[S, B]``."""
        x = self.call.model.sample_prior(noise[:, :, 0])
        states = [x]
        for i, step in enumerate(self.steps):
            x = self._gen_step(self.params, x, step, noise[:, :, i + 1], exploration)
            states.append(x)
        return torch.stack(states, 2), self._reward(x)

    def rollout_backward(self, x_T: Tensor, noise: Tensor) -> Tensor:
        """Off-policy states ``[S, B, T+1, D]``: ``x_T`` ``[S, B, D]`` noised back to ``t_0``."""
        model = self.call.model
        x, states = x_T, [x_T]
        for i in reversed(range(model.steps)):
            if i == 0 and model.prior == "pinned":
                x = torch.zeros_like(x)  # the deterministic last step onto x_0 = 0
            else:
                x = self._dest_step(self.params, x, self.steps[i], noise[:, :, i])
            states.append(x)
        states.reverse()
        return torch.stack(states, 2)

    def update(self, states: Tensor, log_r: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
        """Objective, gradients, clipping, Adam and EMA of one batch; returns losses ``[S]`` and
        flags ``[n_flags, S]`` (the update was applied to seed ``s`` iff ``active[s]`` and all its
        flags hold)."""
        train_p = {n: self.params[n] for n in self.trainable}
        frozen_p = {n: self.params[n] for n in self.frozen}
        total, flags = self._update(
            train_p, frozen_p, self.m, self.v, self.step_count, self.lrs, active, states, log_r
        )
        self.step_count += 1.0
        return total, flags

    # ------------------------------------------------------------------ Adam state <-> torch.optim
    def load_adam(self, states: dict[str, dict], step: float) -> None:
        """Adopt stacked Adam moments ``{name: {"exp_avg", "exp_avg_sq"}}`` at step ``step``."""
        for n, st in states.items():
            self.m[n].copy_(st["exp_avg"])
            self.v[n].copy_(st["exp_avg_sq"])
        self.step_count.fill_(step)

    def adam_of(self, name: str) -> dict[str, Tensor] | None:
        """Stacked Adam state of parameter ``name`` in ``torch.optim.Adam``'s format, or ``None``
        before the first step."""
        if float(self.step_count) == 0:
            return None
        return {
            "step": self.step_count.to(torch.float32).clone(),
            "exp_avg": self.m[name],
            "exp_avg_sq": self.v[name],
        }
