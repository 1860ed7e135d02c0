"""Rare channels (mouthDimple: only AU14 drives it) are learned: their active frames weigh more in the stage-2
reconstruction loss, so a net trained with real optimiser steps shows the dimple where the data has one."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from avi_talking.core.arkit import ARKIT52, INDEX  # noqa: E402
from avi_talking.core.stage2 import losses  # noqa: E402

DIMPLE = INDEX["mouthDimpleLeft"]


def _train(active_weight: float, steps: int = 200) -> tuple[float, float]:
    """A tiny shared-trunk net trained with Adam on data where a dimple (0.5) shows on 10 % of the frames and
    the cue to it is noisy; returns its mean dimple on the active frames and on the others. 200 steps: the
    brow channels' squared error (×20) takes the shared trunk's first steps, the dimple comes after ~100."""
    gen = torch.Generator().manual_seed(0)
    b, t = 8, 100
    active = torch.rand(b, t, generator=gen) < 0.1
    x = torch.randn(b, t, 8, generator=gen)
    x[..., 0] = active.float() + 0.6 * torch.randn(b, t, generator=gen)  # the cue, blurred
    target = torch.rand(b, t, len(ARKIT52), generator=gen) * 0.2 * (1 - losses.RARE_CHANNELS.float())
    target[..., DIMPLE] = 0.5 * active.float()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.GELU(), torch.nn.Linear(32, len(ARKIT52)))
    torch.nn.init.constant_(net[2].bias, -3.0)  # near rest, as the stage-2 decoder starts
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    mask = torch.ones(b, t)
    saved = losses.RARE_ACTIVE_WEIGHT
    losses.RARE_ACTIVE_WEIGHT = active_weight
    try:
        for _ in range(steps):
            loss = losses.reconstruction(torch.sigmoid(net(x)), target, mask)["l1"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        losses.RARE_ACTIVE_WEIGHT = saved
    with torch.no_grad():
        dimple = torch.sigmoid(net(x))[..., DIMPLE]
    return float(dimple[active].mean()), float(dimple[~active].mean())


def test_active_dimple_frames_weigh_more_in_the_loss() -> None:
    pred = torch.full((1, 4, len(ARKIT52)), 0.1)
    target = torch.zeros(1, 4, len(ARKIT52))
    plain = losses.reconstruction(pred, target, torch.ones(1, 4))["l1"]
    target[0, 0, DIMPLE] = 0.1 + 0.5  # one frame's dimple is 0.5 away instead of 0.1
    with_dimple = losses.reconstruction(pred, target, torch.ones(1, 4))["l1"]
    per_unit = 2.0 / len(ARKIT52) / 4  # a mouth channel's weight, averaged over channels and frames
    assert float(with_dimple - plain) == pytest.approx(per_unit * (losses.RARE_ACTIVE_WEIGHT * 0.5 - 0.1), rel=1e-4)


def test_the_dimple_is_learned_only_with_the_weighting() -> None:
    on, off = _train(losses.RARE_ACTIVE_WEIGHT)
    plain_on, _ = _train(1.0)
    assert on > 0.2 and on > plain_on + 0.1, (on, plain_on)
    assert off < 0.15  # and it stays mostly off elsewhere
