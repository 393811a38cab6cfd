"""The PyTorch eager reference of `make bench`: gancli's default GAN, written the way popular
PyTorch GAN examples are written (nn.Sequential players, torch.optim.Adam, BCEWithLogitsLoss,
a Python loop that steps the critic, then the generator on the same fake batch).

Same problem as `gancli train`'s default: 8 Gaussians on the unit circle (std 0.01), a
standard-normal 2-D prior, 4 hidden ReLU layers of 128 for both players, Adam(2e-4, 0.5, 0.999),
the non-saturating generator loss (Goodfellow et al. 2014), PacGAN packing of `pack` samples
(Lin et al. 2018) and an exponential moving average of the generator's weights.

As a script it trains and writes samples of the averaged generator to a .npy (for
`gancli eval <run> samples=...`), and prints one JSON line: steps, seconds, steps per second.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time

import numpy as np
import torch
from torch import nn


def ring_batch(n: int, generator: torch.Generator, modes: int = 8, radius: float = 1.0,
               std: float = 0.01) -> torch.Tensor:
    device = generator.device
    which = torch.randint(0, modes, (n,), generator=generator, device=device)
    angle = 2 * math.pi * which / modes
    centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return centres + std * torch.randn(n, 2, generator=generator, device=device)


def mlp(d_in: int, d_out: int, hidden: int = 128, depth: int = 4) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = d_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, d_out))
    return nn.Sequential(*layers)


class ReferenceGAN:
    def __init__(self, batch_size: int, pack: int = 1, ema_decay: float = 0.999, lr: float = 2e-4, seed: int = 0,
                 device: str = "cpu"):
        torch.manual_seed(seed)
        self.batch_size, self.pack, self.ema_decay, self.device = batch_size, pack, ema_decay, device
        self.generator = mlp(2, 2).to(device)
        self.critic = mlp(2 * pack, 1).to(device)
        self.average = copy.deepcopy(self.generator).requires_grad_(False)
        self.g_opt = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.5, 0.999))
        self.d_opt = torch.optim.Adam(self.critic.parameters(), lr=lr, betas=(0.5, 0.999))
        self.loss = nn.BCEWithLogitsLoss()
        self.rng = torch.Generator(device=device).manual_seed(seed)
        self.ones = torch.ones(batch_size // pack, 1, device=device)
        self.zeros = torch.zeros(batch_size // pack, 1, device=device)

    def packed(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, 2 * self.pack)

    def step(self) -> tuple[float, float]:
        real = ring_batch(self.batch_size, self.rng)
        fake = self.generator(torch.randn(self.batch_size, 2, generator=self.rng, device=self.device))

        self.d_opt.zero_grad()
        d_loss = (self.loss(self.critic(self.packed(real)), self.ones)
                  + self.loss(self.critic(self.packed(fake.detach())), self.zeros))
        d_loss.backward()
        self.d_opt.step()

        self.g_opt.zero_grad()
        g_loss = self.loss(self.critic(self.packed(fake)), self.ones)
        g_loss.backward()
        self.g_opt.step()

        with torch.no_grad():
            for averaged, current in zip(self.average.parameters(), self.generator.parameters(), strict=True):
                averaged.lerp_(current, 1 - self.ema_decay)
        return d_loss.item(), g_loss.item()

    def train(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    @torch.no_grad()
    def samples(self, n: int) -> np.ndarray:
        noise = torch.randn(n, 2, generator=self.rng, device=self.device)
        return self.average(noise).cpu().numpy().astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--pack", type=int, default=2)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=2500)
    parser.add_argument("--out", help="write samples of the averaged generator to this .npy")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda on a machine with an NVIDIA GPU")
    args = parser.parse_args()
    gan = ReferenceGAN(args.batch, args.pack, args.ema, seed=args.seed, device=args.device)
    started = time.perf_counter()
    gan.train(args.steps)
    if args.device != "cpu":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    if args.out:
        np.save(args.out, gan.samples(args.samples))
    print(json.dumps({"steps": args.steps, "seconds": seconds, "steps_per_s": args.steps / seconds,
                      "threads": torch.get_num_threads()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
