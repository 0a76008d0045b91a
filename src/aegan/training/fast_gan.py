"""A hand-derived two-phase step for the dense GAN with RMSprop: the same update as autograd.

Small dense GANs are bound by per-operation overhead. This step runs both phases with the
gradients derived by hand (SELU's derivative from its output with `elu_backward`, the
sigmoid's with `sigmoid_backward`: private operators that training/private_ops.py resolves,
with public fallbacks), makes the fakes of both phases in one generator pass (the
generator does not change in the discriminator's phase), shows the discriminator reals
and fakes in one batch (it has no batch-dependent layer), skips the discriminator's weight
gradients in the generator's phase, works in buffers allocated once per batch size, and
applies RMSprop to all of a network's tensors at once on flat buffers. It returns the
discriminator's logits: losses and accuracies are computed from them once per epoch
(training/gan.py's epoch_metrics), not in every step. tests/test_fast_gan.py checks it
against the autograd step of training/gan.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from aegan.runtime import keep_freed_memory
from aegan.training import private_ops
from aegan.training.fast_dense import SELU_ALPHA, SELU_SCALE


def supports(model, training) -> bool:
    """The unconditional dense GAN with sigmoid outputs (data in [0, 1]) and no minibatch
    discrimination, trained by RMSprop without momentum, with training.fast_path on."""
    from aegan.models.gan import GAN

    return (isinstance(model, GAN) and model.config.kind == "gan" and not model.config.num_classes
            and not model.config.minibatch_kernels and model.config.output_activation == "sigmoid"
            and training.optimizer == "rmsprop" and training.momentum == 0.0 and training.fast_path)


_NO_BIAS_CORRECTION_STEP = float(2 ** 62)  # alpha ** step == 0.0 for any alpha < 1


class _Network:
    """A stack of Linear layers with SELU between them (run by `_Pass`), and its RMSprop state.

    The parameters are moved into one flat buffer (each parameter a view of it), their
    gradients are written into a second one and the optimizer's square averages live in a
    third, so RMSprop updates the whole network at once: in one fused kernel where PyTorch
    has one (see `rmsprop_`), else in five.
    """

    def __init__(self, linears: list[nn.Linear], optimizer):
        parameters = [p for layer in linears for p in (layer.weight, layer.bias)]
        reference = parameters[0]
        total = sum(p.numel() for p in parameters)
        self.flat = torch.empty(total, dtype=reference.dtype, device=reference.device)
        self.flat_grad = torch.zeros_like(self.flat)
        self.flat_square_avg = torch.zeros_like(self.flat)
        self.denominator = torch.empty_like(self.flat)
        self.grads, offset = [], 0
        step = None
        for p in parameters:
            n = p.numel()
            self.flat[offset:offset + n].copy_(p.detach().reshape(-1))
            p.data = self.flat[offset:offset + n].view_as(p)
            self.grads.append(self.flat_grad[offset:offset + n].view_as(p))
            state = optimizer.state[p]  # share the optimizer's state so checkpoints stay as they are
            square_avg = self.flat_square_avg[offset:offset + n].view_as(p)
            if "square_avg" in state:
                square_avg.copy_(state["square_avg"])
            state["square_avg"] = square_avg
            step = state.get("step", step) if step is None else step
            offset += n
        self.step = step if step is not None else torch.zeros((), dtype=torch.float32)
        for p in parameters:
            optimizer.state[p]["step"] = self.step
        self.weights = [layer.weight for layer in linears]
        self.weights_t = [layer.weight.t() for layer in linears]
        self.biases = [layer.bias for layer in linears]
        group = optimizer.param_groups[0]
        self.learning_rate, self.alpha, self.eps = group["lr"], group["alpha"], group["eps"]
        self.fused = private_ops.has_fused_adam(self.flat)  # torch._fused_adam_, where it exists and works
        if self.fused:
            self.fused_adam = private_ops.fused_adam(self.flat)
            # Adam with beta1 = 0 copies the gradient here; zeros, not empty: 0 * nan would be nan
            self.fused_first_moment = torch.zeros_like(self.flat)
            self.fused_step = torch.tensor(_NO_BIAS_CORRECTION_STEP, dtype=torch.float32, device=self.flat.device)

    def rmsprop_(self) -> None:
        """One RMSprop update, as torch.optim.RMSprop computes it.

        RMSprop is Adam with beta1 = 0 and no bias correction: with beta1 = 0 Adam's first
        moment is the gradient itself and its correction 1 - 0**t is 1, and at a step count
        of 2**62 the second moment's correction 1 - alpha**t is exactly 1. PyTorch's fused
        Adam kernel then computes square_avg = alpha * square_avg + (1 - alpha) * grad**2 and
        param -= lr * grad / (sqrt(square_avg) + eps) in one pass over the flat buffers (the
        same values as torch.optim.RMSprop within a rounding or two; tests/test_fast_gan.py).
        """
        self.step.add_(1)
        if self.fused:
            self.fused_adam([self.flat], [self.flat_grad], [self.fused_first_moment], [self.flat_square_avg],
                            [], [self.fused_step], lr=self.learning_rate, beta1=0.0, beta2=self.alpha,
                            weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
            return
        self.flat_square_avg.mul_(self.alpha).addcmul_(self.flat_grad, self.flat_grad, value=1 - self.alpha)
        torch.sqrt(self.flat_square_avg, out=self.denominator).add_(self.eps)
        self.flat.addcdiv_(self.flat_grad, self.denominator, value=-self.learning_rate)


class _Pass:
    """One network's activations and gradients for one batch size, allocated once with their
    transposed views, so that a step allocates almost nothing and makes no views.

    outputs[i] is layer i's input (outputs[0] the network's input: a buffer the caller fills);
    deltas[i] is the loss's gradient with respect to layer i's pre-activation (the caller fills
    the last). The last layer's output, the logits, is a fresh tensor, as callers return it.
    """

    def __init__(self, network: _Network, outputs: list[torch.Tensor]):
        rows = len(outputs[0])
        self.network, self.outputs = network, outputs
        self.elu_backward_into = private_ops.elu_backward_into()
        self.deltas = [outputs[0].new_empty(rows, weight.shape[0]) for weight in network.weights]
        self.deltas_t = [delta.t() for delta in self.deltas]
        self.input_grad = outputs[0].new_empty(rows, network.weights[0].shape[1])

    @classmethod
    def on(cls, network: _Network, inputs: torch.Tensor) -> "_Pass":
        return cls(network, [inputs] + [inputs.new_empty(len(inputs), w.shape[0]) for w in network.weights[:-1]])

    def rows(self, start: int, stop: int) -> "_Pass":
        """A pass over rows start:stop of this pass's activations, with gradient buffers of its own."""
        return _Pass(self.network, [output[start:stop] for output in self.outputs])

    def forward(self, inputs: torch.Tensor | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
        """The logits (in `out` if given); `inputs` (if given) replaces outputs[0] from now on."""
        network, outputs = self.network, self.outputs
        if inputs is not None:
            outputs[0] = inputs
        last = len(network.weights) - 1
        for index in range(last):
            torch.selu_(torch.addmm(network.biases[index], outputs[index], network.weights_t[index],
                                    out=outputs[index + 1]))
        if out is None:
            return torch.addmm(network.biases[last], outputs[last], network.weights_t[last])
        return torch.addmm(network.biases[last], outputs[last], network.weights_t[last], out=out)

    def backward(self, parameter_grads: bool = True, input_grad: bool = False) -> None:
        """From deltas[-1]: the network's flat gradient buffer (unless parameter_grads is off) and,
        if asked, input_grad, the gradient with respect to outputs[0]."""
        network = self.network
        for index in range(len(network.weights) - 1, -1, -1):
            delta = self.deltas[index]
            if parameter_grads:
                torch.mm(self.deltas_t[index], self.outputs[index], out=network.grads[2 * index])
                torch.sum(delta, 0, out=network.grads[2 * index + 1])
            if index > 0:  # through the weights, then through the SELU (from its output), in place
                below = self.deltas[index - 1]
                torch.mm(delta, network.weights[index], out=below)
                self.elu_backward_into(below, SELU_ALPHA, SELU_SCALE, 1.0, True, self.outputs[index], grad_input=below)
            elif input_grad:
                torch.mm(delta, network.weights[0], out=self.input_grad)


def make_fast_gan_step(model, optimizer_d, optimizer_g, replay):
    """The two-phase step; returns (D's logits on [reals; fakes], D's logits on phase 2's fakes)."""
    keep_freed_memory()
    generator = _Network([m for m in model.generator if isinstance(m, nn.Linear)], optimizer_g)
    discriminator = _Network([m for m in model.discriminator.features if isinstance(m, nn.Linear)]
                             + [model.discriminator.output], optimizer_d)
    coding_size, input_shape = model.config.coding_size, model.config.input_shape
    sigmoid_backward_into = private_ops.sigmoid_backward_into()
    plans = {}

    def plan(n: int, like: torch.Tensor) -> SimpleNamespace:
        """The buffers of a step on n reals. The generator does not change in phase 1, so one
        pass over 2n codings makes the fakes of both phases (the first n for phase 1)."""
        codings = like.new_empty(2 * n, coding_size)
        g_pass = _Pass.on(generator, codings)
        d_inputs = like.new_empty(2 * n, like.shape[1])  # reals, then phase 1's fakes
        images = like.new_empty(n, like.shape[1])  # phase 2's fakes
        # d(mean BCE with logits)/d logit = (sigmoid(logit) - target) / count: one torch.add
        return SimpleNamespace(
            codings=codings, g_pass=g_pass, g_phase2=g_pass.rows(n, 2 * n), reals=d_inputs[:n],
            fakes=d_inputs[n:], images=images, d_phase1=_Pass.on(discriminator, d_inputs),
            d_phase2=_Pass.on(discriminator, images),
            probabilities_1=like.new_empty(2 * n, 1), probabilities_2=like.new_empty(n, 1),
            minus_targets_1=torch.cat([torch.ones(n, 1), torch.zeros(n, 1)]).to(like).div_(-2 * n),
            minus_targets_2=torch.full((1, 1), -1.0 / n).to(like))

    @torch.no_grad()
    def step(real: torch.Tensor, labels=None):
        n = len(real)
        real = real.reshape(n, -1)
        key = (n, real.dtype, real.device)
        if key not in plans:
            plans[key] = plan(n, real)
        p = plans[key]
        p.reals.copy_(real)
        torch.randn(p.codings.shape, out=p.codings)
        g_logits = p.g_pass.forward()
        torch.sigmoid(g_logits[:n], out=p.fakes)
        torch.sigmoid(g_logits[n:], out=p.images)
        if replay.pool_batches:  # the pool keeps copies (p.fakes is reused); a served batch replaces it
            fresh = p.fakes.clone().view(n, *input_shape)
            served = replay(fresh)[0]
            if served.data_ptr() != fresh.data_ptr():
                p.fakes.copy_(served.reshape(n, -1))
        # Phase 1: the discriminator on reals (1) and fakes (0), in one batch of 2n.
        d_logits = p.d_phase1.forward()
        torch.sigmoid(d_logits, out=p.probabilities_1)
        torch.add(p.minus_targets_1, p.probabilities_1, alpha=0.5 / n, out=p.d_phase1.deltas[-1])
        p.d_phase1.backward()
        discriminator.rmsprop_()
        # Phase 2: the generator through the (unchanged) discriminator, its fakes labelled 1.
        g_logits = p.d_phase2.forward()
        torch.sigmoid(g_logits, out=p.probabilities_2)
        torch.add(p.minus_targets_2, p.probabilities_2, alpha=1.0 / n, out=p.d_phase2.deltas[-1])
        p.d_phase2.backward(parameter_grads=False, input_grad=True)
        sigmoid_backward_into(p.d_phase2.input_grad, p.images, grad_input=p.g_phase2.deltas[-1])
        p.g_phase2.backward()
        generator.rmsprop_()
        return d_logits, g_logits

    return step
