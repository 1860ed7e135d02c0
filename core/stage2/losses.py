"""Training losses: channel L1, velocity L1, the lip gap and the lip vertices on the built-in head
(differentiable, in mm) with a closure hinge, and a multi-positive InfoNCE between style latents and instruction
embeddings."""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
import torch.nn.functional as F

from ..arkit import ARKIT52, INDEX
from ..audio.runs import runs
from ..instructions.arkit_map import STATIC_AUS, au_matrix
from ..rigs.builtin_head.measure import gap_model, lip_keys

MOUTH = torch.tensor([n.startswith(("mouth", "jaw", "tongue", "cheekPuff")) for n in ARKIT52])
# channels only a rare instruction drives (AU14/AU14L/R → mouthDimple, from the contempt prototype alone): in
# nearly all frames their target is 0, the L1 optimum is the conditional median, and the trained model never
# showed a dimple. Frames where such a channel is active count RARE_ACTIVE_WEIGHT times, so a dimple is
# predicted once about 1 / (1 + RARE_ACTIVE_WEIGHT) of the frames that look alike to the model carry one.
RARE_CHANNELS = torch.tensor([n in ("mouthDimpleLeft", "mouthDimpleRight") for n in ARKIT52])
RARE_ACTIVE_WEIGHT = 4.0
RARE_ACTIVE_MIN = 0.02  # a target above this counts as active
# upper-face prosody channels (brow raises and lowering, squints on accents): a brow raise comes with some
# accents the model hears and not others, and L1's optimum, the conditional median, was no raise at all (brow
# std 0.006 on real speech). A squared error pulls towards the conditional mean instead: a partial raise on
# every accent that might carry one. Weighted PROSODY_SQUARED: a smooth L1 (squared below 0.15, i.e. 3.3·err²)
# was too weak at the few-hundredths errors a brow raise makes (network brow std 0.0018 on real speech), the
# squared error × 20 of a session-4 experiment reached 0.0196.
PROSODY = torch.tensor([n.startswith(("brow", "eyeSquint", "cheekSquint")) for n in ARKIT52])
PROSODY_SQUARED = 20.0
JAW, CLOSE = INDEX["jawOpen"], INDEX["mouthClose"]
CLOSED_MM = 1.0  # the evaluation's threshold
HINGE_MM = 0.4  # aim below it, where the target is closed
OPEN_AIM_MM = 1.5  # and above it, where the target's lips are apart (``opening_hinge``)
EVENT_LONGEST = 9  # frames (0.3 s): a shorter closed run of the target is one closure event, a longer one a rest
EVENT_RADIUS = 2  # frames either side of an event's centre where one closed frame counts (the evaluation: ±40 ms
# of the phone, which itself lasts 2-3 frames)


@cache
def _gap_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    rest, change = gap_model()  # metres: rest [P], change [52, P]
    mm = lambda a: torch.from_numpy(np.asarray(a, np.float32) * 1000)  # noqa: E731
    return mm(rest), mm(change)


def lip_gap_mm(values: torch.Tensor) -> torch.Tensor:
    """[..., 52] → [...]: the built-in head's lip gap in mm, as ``core.rigs.builtin_head.measure.lip_gap_mm``
    (linear in the weights per contact pair, then the smallest pair, clipped at 0)."""
    rest, change = _gap_tensors()
    return (rest + values @ change).amin(-1).clamp(min=0.0)


@cache
def _lip_keys() -> torch.Tensor:
    return torch.from_numpy(np.asarray(lip_keys()[1], np.float32).reshape(len(ARKIT52), -1) * 1000)  # mm, [52, 3V]


def lip_vertex_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[..., 52] × 2 → [...]: the mean distance (mm) between predicted and target lip vertices of the built-in head,
    the per-vertex form of the evaluation's lip-vertex error (which takes the largest). The channel L1 weighs a
    unit of mouthFunnel like one of jawOpen, while the lips move several times as far for the second."""
    keys = _lip_keys().to(pred)
    diff = ((pred - target) @ keys).unflatten(-1, (-1, 3))
    return (diff.square().sum(-1) + 1e-6).sqrt().mean(-1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


@cache
def _readout() -> torch.Tensor:
    """[52, A] projections of ARKit values onto each static AU's channels (``au_readout`` of the eval)."""
    rows = au_matrix(STATIC_AUS)
    return torch.from_numpy((rows / (rows * rows).sum(1, keepdims=True)).T.astype(np.float32))


def expression(pred: torch.Tensor, target: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """L1 between the per-segment mean AU readouts of prediction and target (what adherence measures).
    segments [B, S, T]: each segment's frames (padding frames are 0)."""
    count = segments.sum(-1, keepdim=True).clamp(min=1.0)
    r = _readout()
    mp = torch.einsum("bst,btc->bsc", segments, pred) / count @ r
    mt = torch.einsum("bst,btc->bsc", segments, target) / count @ r
    has = (segments.sum(-1) > 0).to(pred.dtype)[..., None]
    return ((mp - mt).abs() * has).sum() / (has.sum() * r.shape[1]).clamp(min=1.0)


def closure_events(closed: np.ndarray, longest: int = EVENT_LONGEST) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """closed [B, T] bool (the target's lips shut) → (rows, frames) of the centre of every closed run of at most
    ``longest`` frames (a bilabial's closure), and a [B, T] mask of the frames of longer runs (rests, pauses)."""
    rows: list[int] = []
    frames: list[int] = []
    rest = np.zeros(closed.shape, bool)
    for b, line in enumerate(np.asarray(closed, bool)):
        for start, end in runs(line):
            if end - start <= longest:
                rows.append(b)
                frames.append((start + end - 1) // 2)
            else:
                rest[b, start:end] = True
    return np.asarray(rows, np.int64), np.asarray(frames, np.int64), rest


def event_hinge(gaps: torch.Tensor, closed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The closure hinge per event, as the evaluation counts a bilabial: the smallest predicted gap within
    ±EVENT_RADIUS frames of each short closed run's centre, plus the per-frame hinge over long closed runs (rests);
    both summed and divided by the clip frames, so missing a closure weighs against closing open frames at a fixed
    rate. With the per-frame hinge (its mean over closed frames), a frame was best closed once a closure there was
    about 9 % likely: the session-6 network shut its lips in 31 % of the frames where the target's were apart."""
    rows, frames, rest = closure_events(closed.detach().cpu().numpy() > 0)
    over = F.relu(gaps - HINGE_MM) / 5.0
    total = (over * torch.from_numpy(rest).to(gaps)).sum()
    if len(rows):
        window = -F.max_pool1d(-gaps[:, None, :], 2 * EVENT_RADIUS + 1, stride=1, padding=EVENT_RADIUS)[:, 0]
        at = (torch.from_numpy(rows).to(gaps.device), torch.from_numpy(frames).to(gaps.device))
        total = total + (F.relu(window[at] - HINGE_MM) / 5.0).sum()
    return total / mask.sum().clamp(min=1.0)


def opening_hinge(gaps: torch.Tensor, target_gaps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The other side of the closure hinge, per frame as the evaluation counts a false closure: how far the
    predicted lips are shut below the target's gap (at most OPEN_AIM_MM) in the frames where the target's are
    apart, summed and divided by the clip frames like ``event_hinge``, so the two weights set the price of a wrongly
    shut frame against a missed closure. Without it a closure weight high enough to close 0.95 of the bilabials
    bought them by shutting the lips on sounds that resemble them (t, d, k, f, v; session 11's network: in 14 % of
    the frames where the target's were apart, against 7 % for the first network, trained with a weak hinge)."""
    apart = mask * (target_gaps >= CLOSED_MM).to(gaps.dtype)
    aim = target_gaps.clamp(max=OPEN_AIM_MM)  # never more open than the target (its transitions into a closure)
    return (F.relu(aim - gaps) * apart).sum() / 5.0 / mask.sum().clamp(min=1.0)


def reconstruction(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                   closure: str = "frames", lips: bool = True) -> dict[str, torch.Tensor]:
    """pred/target [B, T, 52], mask [B, T] (1 on real frames) → named loss terms. ``closure`` (config.CLOSURE_TERMS):
    "frames", the per-frame hinge's mean over the target's closed frames; "events", ``event_hinge``; "events-share",
    ``event_hinge`` acting through mouthClose's share of jawOpen alone (``share_only``). ``lips``: include the
    lip-vertex term (about as costly as all the others together; training leaves it out while its weight is 0)."""
    weight = 1.0 + MOUTH.to(pred)  # mouth channels count double
    rare_active = (RARE_CHANNELS.to(pred.device) & (target > RARE_ACTIVE_MIN)).to(pred)
    err = (pred - target).abs()
    prosody = PROSODY.to(pred.device)
    err = torch.where(prosody, PROSODY_SQUARED * err * err, err)
    l1 = masked_mean((err * weight * (1.0 + (RARE_ACTIVE_WEIGHT - 1.0) * rare_active)).mean(-1), mask)
    vmask = mask[:, 1:] * mask[:, :-1]
    vel = masked_mean(((pred.diff(dim=1) - target.diff(dim=1)).abs() * weight).mean(-1), vmask) * 4.0
    gp, gt = lip_gap_mm(pred), lip_gap_mm(target)
    gap = masked_mean((gp - gt).abs(), mask) / 10.0
    closed = mask * (gt < CLOSED_MM).to(pred.dtype)
    held = lip_gap_mm(share_only(pred) if closure == "events-share" else jaw_held(pred))
    if closure == "frames":
        hinge = masked_mean(F.relu(held - HINGE_MM), closed) / 5.0
    else:
        hinge = event_hinge(held, closed, mask)
    terms = {"l1": l1, "vel": vel, "gap": gap, "closure": hinge, "opening": opening_hinge(held, gt, mask)}
    if lips:
        terms["lips"] = masked_mean(lip_vertex_distance(pred, target), mask) / 10.0
    return terms


def jaw_held(pred: torch.Tensor) -> torch.Tensor:
    """pred with no gradient into jawOpen, directly or through mouthClose (the decoder makes it jawOpen × a
    share; here its value is kept and only the share's gradient flows): the closure hinge may seal the lips
    through the share and the lip channels but not by shutting the jaw — with jawOpen in its gradient, a
    closure weight of 3 left open vowels at 0.72 of the target's jaw."""
    jaw = pred[..., JAW : JAW + 1]
    close = pred[..., CLOSE : CLOSE + 1] * (jaw.detach() / jaw.clamp(min=1e-4))
    return torch.cat([pred[..., :JAW], jaw.detach(), pred[..., JAW + 1 : CLOSE], close, pred[..., CLOSE + 1 :]], -1)


def share_only(pred: torch.Tensor) -> torch.Tensor:
    """``jaw_held`` with every other channel held too: the hinge seals the lips through mouthClose's share alone.
    Through the lip channels as well (``jaw_held``), a hinge weighted high enough to close 0.95 of the bilabials
    biased them low in every frame: where the target's lips and the prediction's were both apart, the gap was
    1.1 mm short (0.5 mm for a network trained with a weak hinge)."""
    held = jaw_held(pred)
    return torch.cat([held[..., :CLOSE].detach(), held[..., CLOSE : CLOSE + 1], held[..., CLOSE + 1 :].detach()], -1)


def head_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Head rotations [B, T, 3] in radians: smooth L1 of the angles (squared below one HEAD_UNIT, so a nod the
    audio makes likely is learned as its mean, not as the median no-nod) and L1 of their frame-to-frame
    change, in units of HEAD_UNIT (a 3° error weighs like 1.0 on a face channel)."""
    from .net import HEAD_UNIT

    l1 = masked_mean(F.smooth_l1_loss(pred / HEAD_UNIT, target / HEAD_UNIT, reduction="none", beta=1.0).mean(-1), mask)
    vmask = mask[:, 1:] * mask[:, :-1]
    vel = masked_mean((pred.diff(dim=1) - target.diff(dim=1)).abs().mean(-1), vmask) * 4.0 / HEAD_UNIT
    return l1 + vel


def info_nce(a: torch.Tensor, b: torch.Tensor, same: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE between rows of a and b [N, D]; ``same`` [N, N] marks pairs that share an
    instruction (all of them count as positives, so identical neutral instructions are not pushed apart)."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.T / temperature
    pos = (same | torch.eye(len(a), dtype=torch.bool, device=a.device)).to(logits.dtype)  # a row is its own positive

    def one_way(lg: torch.Tensor) -> torch.Tensor:
        log_p = lg.log_softmax(-1)
        return -(torch.logsumexp(log_p.masked_fill(pos == 0, -1e9), -1)).mean()

    return 0.5 * (one_way(logits) + one_way(logits.T))
