"""Held-out audio-visual correspondence accuracy: positives, easy and hard negatives, each scored.

The `av_pairs` family on videos never trained on, without augmentation, with a fixed mix: half
positives, a quarter easy negatives (another video's sound), a quarter hard ones (the same video's
sound shifted by at least `min_shift_s`). Several passes draw different clips and windows. The
network at initialisation is scored the same way, so the figure can be read against it and chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmssl.eval.knn_report import fresh_method
from mmssl.pipelines.loader import build_loader
from mmssl.train.config import RunSpec
from mmssl.train.embedded import HeldOut

EVAL_PAIR_MIX = {"negative_fraction": 0.5, "hard_negative_fraction": 0.5, "curriculum_start_epoch": 0,
                 "curriculum_ramp_epochs": 0}  # as many hard as easy negatives (easy where a video is too short)
KINDS = ("positives", "easy negatives", "hard negatives")


@dataclass
class CorrespondenceReport:
    accuracy: float  # over every scored pair
    by_kind: dict[str, tuple[float, int]]  # kind -> (accuracy, pairs)
    random_init_accuracy: float

    def describe(self) -> str:
        parts = ", ".join(f"{kind} {accuracy:.3f} ({count})" for kind, (accuracy, count) in self.by_kind.items())
        return (f"held-out correspondence accuracy: {self.accuracy:.3f} (chance 0.50)\n"
                f"  by kind (pairs): {parts}\n"
                f"  random-init network: {self.random_init_accuracy:.3f}")


def pair_kinds(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """0 positive, 1 easy negative (another video's sound), 2 hard negative (the same video's, shifted)."""
    same_video = batch["audio_index"] == batch["index"]
    return torch.where(batch["match"] == 1, 0, torch.where(same_video, 2, 1))


def score_pairs(method, data_dir, pipeline_options: dict, passes: int, batch_size: int = 16, seed: int = 1234):
    """(correct [N] bool, kind [N]) over `passes` epochs of held-out pairs."""
    options = dict(pipeline_options, augment=False, **EVAL_PAIR_MIX)
    loader = build_loader("av_pairs", data_dir, batch_size=batch_size, seed=seed, options=options)
    correct, kinds = [], []
    for _ in range(passes):
        for batch in loader:
            predicted = method.predict(method.model, batch["video"], batch["audio"])
            correct.append(predicted.cpu() == batch["match"].cpu())
            kinds.append(pair_kinds(batch).cpu())
    return torch.cat(correct), torch.cat(kinds)


def held_out_correspondence(spec: RunSpec, checkpoint_dir: str, held_out: HeldOut,
                            passes: int = 4) -> CorrespondenceReport:
    """Score the trained network and the one at initialisation on the same held-out pairs."""
    scored = {}
    for name, checkpoint in (("random", None), ("trained", checkpoint_dir)):
        method = fresh_method(spec, held_out.labels.shape[0], checkpoint)
        scored[name] = score_pairs(method, held_out.data_dir, spec.pipeline_options, passes)
    correct, kinds = scored["trained"]
    by_kind = {kind: (correct[kinds == k].float().mean().item() if (kinds == k).any() else float("nan"),
                      int((kinds == k).sum())) for k, kind in enumerate(KINDS)}
    return CorrespondenceReport(correct.float().mean().item(), by_kind, scored["random"][0].float().mean().item())
