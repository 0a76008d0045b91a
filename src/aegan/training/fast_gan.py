"""A hand-derived two-phase step for the dense GAN with RMSprop: the same update as autograd.

Small dense GANs are bound by per-operation overhead. This step runs both phases with the
gradients derived by hand (SELU's derivative from its output with `elu_backward`, the
sigmoid's with `sigmoid_backward`), makes the fakes of both phases in one generator pass
(the generator does not change in the discriminator's phase), shows the discriminator reals
and fakes in one concatenated batch (it has no batch-dependent layer), skips the discriminator's weight
gradients in the generator's phase, and applies RMSprop to all of a network's tensors
at once on flat buffers. It returns the discriminator's logits: losses and accuracies are
computed from them once per epoch (training/gan.py's epoch_metrics), not in every step.
tests/test_fast_gan.py checks it against the autograd step of training/gan.py.
"""

from __future__ import annotations

import torch
from torch import nn

from aegan.runtime import keep_freed_memory
from aegan.training.fast_dense import SELU_ALPHA, SELU_SCALE


def supports(model, training) -> bool:
    from aegan.models.gan import GAN

    return (isinstance(model, GAN) and model.config.kind == "gan" and not model.config.num_classes
            and not model.config.minibatch_kernels and training.optimizer == "rmsprop"
            and training.momentum == 0.0 and training.fast_path)


_NO_BIAS_CORRECTION_STEP = float(2 ** 62)  # alpha ** step == 0.0 for any alpha < 1


def _fused_rmsprop_available(flat: torch.Tensor) -> bool:
    """Whether PyTorch has a fused Adam kernel for this device and dtype (CPU: PyTorch >= 2.4)."""
    if not hasattr(torch, "_fused_adam_"):
        return False
    try:
        probe = [torch.zeros(1, dtype=flat.dtype, device=flat.device) for _ in range(4)]
        torch._fused_adam_(probe[:1], probe[1:2], probe[2:3], probe[3:], [],
                           [torch.tensor(1.0, device=flat.device)], lr=0.0, beta1=0.0, beta2=0.9,
                           weight_decay=0.0, eps=1.0, amsgrad=False, maximize=False)
    except (RuntimeError, NotImplementedError):
        return False
    return True


def _elu_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.elu_backward(grad, SELU_ALPHA, SELU_SCALE, 1.0, True, out)


class _Network:
    """A stack of Linear layers with SELU between them, and its RMSprop state.

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
        self.fused = _fused_rmsprop_available(self.flat)
        if self.fused:
            # Adam with beta1 = 0 copies the gradient here; zeros, not empty: 0 * nan would be nan
            self.fused_first_moment = torch.zeros_like(self.flat)
            self.fused_step = torch.tensor(_NO_BIAS_CORRECTION_STEP, dtype=torch.float32, device=self.flat.device)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[input, hidden activations..., output logits]."""
        outputs = [x]
        for index, (bias, weight_t) in enumerate(zip(self.biases, self.weights_t)):
            h = torch.addmm(bias, outputs[-1], weight_t)
            if index < len(self.biases) - 1:
                h = torch.selu_(h)
            outputs.append(h)
        return outputs

    def backward(self, outputs: list[torch.Tensor], grad: torch.Tensor, parameter_grads: bool = True,
                 input_grad: bool = False) -> torch.Tensor:
        """Fill the flat gradient buffer (unless parameter_grads is off); return the input's gradient."""
        for index in range(len(self.weights) - 1, -1, -1):
            if parameter_grads:
                torch.mm(grad.t(), outputs[index], out=self.grads[2 * index])
                torch.sum(grad, 0, out=self.grads[2 * index + 1])
            if index > 0 or input_grad:
                grad_in = torch.mm(grad, self.weights[index])
                grad = _elu_backward(grad_in, outputs[index]) if index > 0 else grad_in
        return grad

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
            torch._fused_adam_([self.flat], [self.flat_grad], [self.fused_first_moment], [self.flat_square_avg],
                               [], [self.fused_step], lr=self.learning_rate, beta1=0.0, beta2=self.alpha,
                               weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
            return
        self.flat_square_avg.mul_(self.alpha).addcmul_(self.flat_grad, self.flat_grad, value=1 - self.alpha)
        torch.sqrt(self.flat_square_avg, out=self.denominator).add_(self.eps)
        self.flat.addcdiv_(self.flat_grad, self.denominator, value=-self.learning_rate)


def make_fast_gan_step(model, optimizer_d, optimizer_g, replay):
    """The two-phase step; returns (D's logits on [reals; fakes], D's logits on phase 2's fakes)."""
    keep_freed_memory()
    generator = _Network([m for m in model.generator if isinstance(m, nn.Linear)], optimizer_g)
    discriminator = _Network([m for m in model.discriminator.features if isinstance(m, nn.Linear)]
                             + [model.discriminator.output], optimizer_d)
    coding_size = model.config.coding_size
    minus_targets = {}  # -target / count of each phase's mean BCE, per batch size

    @torch.no_grad()
    def step(real: torch.Tensor, labels=None):
        n = len(real)
        real = real.reshape(n, -1)
        if n not in minus_targets:  # phase 1: n reals (1) then n fakes (0), over 2n; phase 2: n fakes (1)
            minus_targets[n] = torch.cat([torch.ones(n, 1), torch.zeros(n, 1)]).to(real).div_(-2 * n)
            minus_targets[-n] = torch.full((1, 1), -1.0 / n).to(real)
        # The generator does not change in phase 1, so one forward pass of 2n codings makes the
        # fakes of both phases (the first n for phase 1, the last n for phase 2).
        g_outputs = generator.forward(torch.randn(2 * n, coding_size, device=real.device))
        all_images = torch.sigmoid(g_outputs[-1])
        # Phase 1: the discriminator on reals (1) and fakes (0), in one batch of 2n.
        fakes = replay(all_images[:n].view(n, *model.config.input_shape))[0].reshape(n, -1)
        outputs = discriminator.forward(torch.cat([real, fakes]))
        logits = outputs[-1]
        # d(mean BCE with logits)/d logit = (sigmoid(logit) - target) / count, in one op after the sigmoid
        discriminator.backward(outputs, torch.add(minus_targets[n], torch.sigmoid(logits), alpha=0.5 / n))
        discriminator.rmsprop_()
        # Phase 2: the generator through the (unchanged) discriminator, its fakes labelled 1.
        g_outputs = [output[n:] for output in g_outputs]
        images = all_images[n:]
        d_outputs = discriminator.forward(images)
        g_logits = d_outputs[-1]
        grad_images = discriminator.backward(d_outputs, torch.add(minus_targets[-n], torch.sigmoid(g_logits),
                                                                  alpha=1.0 / n),
                                             parameter_grads=False, input_grad=True)
        generator.backward(g_outputs, torch.ops.aten.sigmoid_backward(grad_images, images))
        generator.rmsprop_()
        return logits, g_logits

    return step
