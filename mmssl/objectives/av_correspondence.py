"""Audio-visual correspondence: does this audio belong to this clip, at this moment?

Two forms on the `av_pairs` batches (easy negatives from other videos, hard ones from the same
video shifted in time, the AVTS curriculum in the pipeline's options):
- `binary` (L3-Net, Arandjelovic & Zisserman 2017): the two modality features, concatenated, go
  through a small MLP to two logits; cross-entropy against `match`.
- `contrastive` (AVTS, Korbar et al. 2018): both features are projected to an L2-normalised
  embedding; matching pairs are pulled together and mismatched ones pushed beyond a margin,
  L = y d^2 + (1 - y) max(0, margin - d)^2 with d the Euclidean distance; a pair is predicted
  to correspond when d < margin / 2.
- `nce`: both features projected to unit embeddings, trained by cross-modal InfoNCE over the global
  batch (each corresponding clip against every audio window of the batch, and each such window
  against every clip; other videos' windows and clips are the negatives, as in AVID and XDC), plus
  a logistic loss on each pair's logit. The pair loss sets the decision (logit > 0) and is where the
  pipeline's easy and hard negatives act directly. The logit is s * cos + b of the two embeddings
  (s, b learned; the embeddings detached there) plus L3's fusion MLP on the two trunk features. The
  InfoNCE leaves same-video keys out, so it teaches which video a sound is from, not when: the cosine
  brings that, and the fusion MLP learns the timing from the hard negatives without pulling the
  embeddings towards it. Measured on the generated videos (300 CPU steps, held-out accuracy): the
  binary and margin forms alone stay near chance (0.47-0.61); with the logit s * cos + b of
  undetached embeddings alone, 2 of 6 seeds and instruction sets ended at 0.63-0.68, telling a
  shifted window of the same video from the aligned one no better than chance; with the fusion MLP
  alone, 0.70-0.84.

`pair_fusion="temporal"` (nce form) runs the fusion over time instead: the trunks' per-step features
(`timed`; the `_time` backbones keep a step per frame and per 40 ms of sound), the audio's averaged
to the clip's steps, are concatenated step by step and go through a 1D convolution (kernel 3, so a
click may fall a step before or after its flash), ReLU and a 1x1 convolution, averaged over time. A
shifted window then disagrees with the clip at the steps where a bounce is seen or heard, which a
pooled feature has to encode as "when" before the MLP can compare. This is the alignment test of
Owens & Efros (2018), who fuse the two streams along time; here only the pair logit is fused, the
embeddings stay separate. Batch norm in the projection heads (`projection="mlp_bn"`) keeps the
embeddings of a batch apart from the first steps (see the recipe's embedded default).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmssl.memory.collectives import all_gather_cat, all_gather_with_grad, all_reduce_sum_, world_rank_and_size
from mmssl.models.audio_backbone import AUDIO_BACKBONES, build_audio_backbone
from mmssl.models.embedding import pooled_features, unwrap
from mmssl.models.heads import HEAD_KINDS, projection_head
from mmssl.models.video_backbone import VIDEO_BACKBONES, VideoBackbone
from mmssl.objectives.batch import require_keys
from mmssl.objectives.classification import pretext_classification_loss
from mmssl.objectives.instance_contrast import instance_contrast_loss
from mmssl.objectives.method_parts import NetworkStateOnly, seeded_network

FORMS = ("binary", "contrastive", "nce")
PAIR_FUSIONS = ("pooled", "temporal")


class CorrespondenceHead(nn.Module):
    """L3 fusion: concat(video, audio) -> 128 -> ReLU -> `outputs` logits (two, 0: mismatched,
    1: corresponding; or one, the logit of corresponding)."""

    def __init__(self, video_dim: int, audio_dim: int, hidden_dim: int = 128, outputs: int = 2):
        super().__init__()
        self.fuse = nn.Sequential(
            nn.Linear(video_dim + audio_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, outputs)
        )

    def forward(self, video_features: torch.Tensor, audio_features: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([video_features, audio_features], dim=1))


class ContrastiveHead(nn.Module):
    """AVTS: each modality projected to an L2-normalised embedding; output: the pair's distance [B]."""

    def __init__(self, video_dim: int, audio_dim: int, embed_dim: int = 128, projection: str = "mlp"):
        super().__init__()
        self.video = projection_head(video_dim, embed_dim, projection)
        self.audio = projection_head(audio_dim, embed_dim, projection)

    def forward(self, video_features: torch.Tensor, audio_features: torch.Tensor) -> torch.Tensor:
        video = F.normalize(self.video(video_features).float(), dim=1)
        audio = F.normalize(self.audio(audio_features).float(), dim=1)
        return (video - audio).norm(dim=1)


class PairEmbeddingHead(nn.Module):
    """The `nce` form: unit embeddings of each modality for the InfoNCE, and the pair's logit
    scale * cos + bias (embeddings detached) + a fusion of the trunk features: L3's MLP on the
    pooled ones, or with `temporal` a convolution over time on the per-step ones.

    Input: pooled features [B, C] (`pooled`) or per-step ones [B, C, T] (`temporal`; the audio's T
    is pooled to the video's). Output: (video [B, D], audio [B, D], logit [B]); scale and bias start
    where a random pair's logit is clearly negative (cos near 0 gives -5), so the first steps do not
    say "corresponds"."""

    def __init__(self, video_dim: int, audio_dim: int, embed_dim: int = 128, scale: float = 10.0,
                 bias: float = -5.0, fusion: str = "pooled", projection: str = "mlp"):
        super().__init__()
        self.video = projection_head(video_dim, embed_dim, projection)
        self.audio = projection_head(audio_dim, embed_dim, projection)
        self.scale = nn.Parameter(torch.tensor(scale))
        self.bias = nn.Parameter(torch.tensor(bias))
        self.fusion = fusion
        if fusion == "temporal":
            self.pair = nn.Sequential(nn.Conv1d(video_dim + audio_dim, 128, 3, padding=1), nn.ReLU(inplace=True),
                                      nn.Conv1d(128, 1, 1))
        else:
            self.pair = CorrespondenceHead(video_dim, audio_dim, outputs=1)

    def forward(self, video_features: torch.Tensor,
                audio_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.fusion == "temporal":
            steps = video_features.shape[2]
            fused = self.pair(torch.cat([video_features, F.adaptive_avg_pool1d(audio_features, steps)], 1))
            pair_logit = fused.mean(dim=(1, 2))
            # the pooling each trunk's forward applies: a mean over time for video, a max for audio
            video_features, audio_features = video_features.mean(2), audio_features.amax(2)
        else:
            pair_logit = self.pair(video_features, audio_features).squeeze(1)
        video = F.normalize(self.video(video_features).float(), dim=1)
        audio = F.normalize(self.audio(audio_features).float(), dim=1)
        cosine = (video.detach() * audio.detach()).sum(1)
        return video, audio, self.scale * cosine + self.bias + pair_logit.float()


def correspondence_nce_loss(video: torch.Tensor, audio: torch.Tensor, match: torch.Tensor, index: torch.Tensor,
                            audio_index: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric cross-modal InfoNCE of this rank's corresponding pairs against the global batch.

    video, audio [b, D] unit embeddings; match [b]; index [b] the clip's video, audio_index [b] the
    window's. Anchors: the rows with match 1 (clip -> every window, window -> every clip). A key from
    the anchor's own video other than its partner is left out. The mean runs over the anchors of every
    rank, so with DDP averaging the gradient is that of one process on the joined batch. Every rank
    must hold the same batch size."""
    rank, world_size = world_rank_and_size()
    local = video.shape[0]
    anchors = (match.to(video.device) == 1).to(video.dtype)
    index, audio_index = index.to(video.device), audio_index.to(video.device)
    all_video, all_audio = all_gather_with_grad(video), all_gather_with_grad(audio)
    all_index, all_audio_index = all_gather_cat(index), all_gather_cat(audio_index)
    per_row = 0.5 * (
        instance_contrast_loss(video, all_audio, rank * local, temperature, index, all_audio_index, reduction="none")
        + instance_contrast_loss(audio, all_video, rank * local, temperature, audio_index, all_index,
                                 reduction="none"))
    count = all_reduce_sum_(anchors.sum().detach().clone())
    return (per_row * anchors).sum() * world_size / count.clamp_min(1)


def balanced_pair_loss(logit: torch.Tensor, match: torch.Tensor) -> torch.Tensor:
    """Logistic loss of pair logits, the mean over positives and the mean over negatives weighed
    equally: the decision (logit > 0) then does not follow the training mix of positives."""
    y = match.to(logit.device, logit.dtype)
    per_pair = F.binary_cross_entropy_with_logits(logit, y, reduction="none")
    means = [per_pair[kind].mean() for kind in (y == 1, y == 0) if kind.any()]
    return torch.stack(means).mean()


def contrastive_pair_loss(distance: torch.Tensor, match: torch.Tensor, margin: float) -> torch.Tensor:
    """AVTS's contrastive loss, the mean of y d^2 + (1 - y) max(0, margin - d)^2."""
    y = match.to(distance.device, distance.dtype)
    return (y * distance.pow(2) + (1 - y) * (margin - distance).clamp_min(0).pow(2)).mean()


@dataclass
class AVCorrespondenceConfig:
    video_backbone: str = "r2plus1d_18"
    audio_backbone: str = "vgg"
    form: str = "binary"
    margin: float = 0.99  # contrastive form: AVTS's margin on the distance of unit embeddings
    embed_dim: int = 128  # contrastive and nce forms
    temperature: float = 0.1  # nce form
    pair_fusion: str = "pooled"  # nce form: "pooled" (L3's MLP) or "temporal" (over time; VGG audio)
    projection: str = "mlp"  # contrastive and nce forms: each modality's projection head (HEAD_KINDS)

    def __post_init__(self):
        if self.video_backbone not in VIDEO_BACKBONES or self.audio_backbone not in AUDIO_BACKBONES:
            raise ValueError(
                f"video_backbone {self.video_backbone!r} / audio_backbone {self.audio_backbone!r} not in "
                f"{sorted(VIDEO_BACKBONES)} / {AUDIO_BACKBONES}"
            )
        if self.form not in FORMS:
            raise ValueError(f"form {self.form!r} not in {FORMS}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.projection not in HEAD_KINDS:
            raise ValueError(f"projection {self.projection!r} not in {HEAD_KINDS}")
        if self.pair_fusion not in PAIR_FUSIONS:
            raise ValueError(f"pair_fusion {self.pair_fusion!r} not in {PAIR_FUSIONS}")
        if self.pair_fusion == "temporal" and (self.form != "nce" or not self.audio_backbone.startswith("vgg")):
            raise ValueError(f"pair_fusion='temporal' needs form='nce' and a VGG audio backbone (per-step "
                             f"features), got form={self.form!r}, audio_backbone={self.audio_backbone!r}")
        if not 0 < self.margin <= 2 or self.embed_dim < 1:
            raise ValueError(f"need 0 < margin <= 2 (unit embeddings) and embed_dim >= 1, got {self.margin}, {self.embed_dim}")


class AVCorrespondenceNetwork(nn.Module):
    """Video and audio trunks and the form's head; forward gives logits [B, 2] (binary), distances [B]
    (contrastive) or (video, audio, pair logit) (nce)."""

    def __init__(self, config: AVCorrespondenceConfig):
        super().__init__()
        self.video = VideoBackbone(config.video_backbone)
        self.audio = build_audio_backbone(config.audio_backbone)
        if config.form == "binary":
            self.head = CorrespondenceHead(self.video.feature_dim, self.audio.feature_dim)
        elif config.form == "contrastive":
            self.head = ContrastiveHead(self.video.feature_dim, self.audio.feature_dim, config.embed_dim,
                                        config.projection)
        else:
            self.head = PairEmbeddingHead(self.video.feature_dim, self.audio.feature_dim, config.embed_dim,
                                          fusion=config.pair_fusion, projection=config.projection)
        self.fuse_over_time = config.pair_fusion == "temporal"  # the trunks then give per-step features

    def forward(self, video: torch.Tensor, audio: torch.Tensor):
        if self.fuse_over_time:
            return self.head(self.video.timed(video), self.audio.timed(audio))
        return self.head(self.video(video), self.audio(audio))


class AVCorrespondence(NetworkStateOnly, nn.Module):
    """Batch (the `av_pairs` family): video [B, 3, T, H, W], audio [B, 1, mels, frames], match [B];
    the nce form also reads index and audio_index [B] (which video each clip and window is from)."""

    def __init__(
        self, config: AVCorrespondenceConfig, num_samples: int = 0, rank: int = 0,
        world_size: int = 1, device="cpu", seed: int = 0,
    ):
        super().__init__()
        self.config = config
        self.model = seeded_network(seed, lambda: AVCorrespondenceNetwork(config), device)

    def training_step(
        self, model: nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        form = self.config.form
        require_keys(batch, ("video", "audio", "match") + (("index", "audio_index") if form == "nce" else ()),
                     "AVCorrespondence")
        output = model(batch["video"], batch["audio"])
        match = batch["match"].to(batch["video"].device)
        metrics = {}
        if form == "binary":
            loss, accuracy = pretext_classification_loss(output, match)
        elif form == "contrastive":
            loss = contrastive_pair_loss(output, match, self.config.margin)
            accuracy = (self.predict_from(output) == match).float().mean()
        else:
            video, audio, logit = output
            nce = correspondence_nce_loss(video, audio, match, batch["index"], batch["audio_index"],
                                          self.config.temperature)
            pair = balanced_pair_loss(logit, match)
            loss = nce + pair
            accuracy = (self.predict_from(output) == match).float().mean()
            metrics = {"nce": nce.detach(), "pair_loss": pair.detach()}
        return loss, {"loss": loss.detach(), "accuracy": accuracy, **metrics}

    def forward_for_bn_statistics(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> None:
        """The forward pass `train.precise_bn_batches` runs to recompute BN statistics."""
        model(batch["video"], batch["audio"])

    def predict_from(self, output) -> torch.Tensor:
        """1 where the network's output says the audio is the clip's, else 0."""
        if self.config.form == "binary":
            return output.argmax(1)
        if self.config.form == "nce":
            return (output[2] > 0).long()
        return (output < self.config.margin / 2).long()

    @torch.no_grad()
    def predict(self, model: nn.Module, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Correspondence predictions [B] in eval mode (BN running statistics)."""
        network = unwrap(model)
        was_training = network.training
        network.eval()
        try:
            return self.predict_from(network(video, audio))
        finally:
            network.train(was_training)

    def features(self, model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
        """Pooled video features, for kNN evaluation."""
        return pooled_features(unwrap(model).video, clips)

    def audio_features(self, model: nn.Module, log_mel: torch.Tensor) -> torch.Tensor:
        """Pooled audio features of log-mel windows [B, 1, mels, frames], for audio probes."""
        return pooled_features(unwrap(model).audio, log_mel)
