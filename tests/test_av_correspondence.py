"""Audio-visual correspondence: the L3 fusion head and the AVTS contrastive form, on av_pairs keys."""

import math

import pytest
import torch

from mmssl.objectives.av_correspondence import (
    AVCorrespondence,
    AVCorrespondenceConfig,
    CorrespondenceHead,
    PairEmbeddingHead,
    balanced_pair_loss,
    contrastive_pair_loss,
    correspondence_nce_loss,
)

NARROW = dict(video_backbone="r3d_18_narrow", audio_backbone="vgg_narrow")
NARROW_TIMED = dict(video_backbone="r3d_18_narrow_time", audio_backbone="vgg_narrow_time", pair_fusion="temporal")


def av_batch(match):
    torch.manual_seed(0)
    index = torch.arange(len(match))
    return {"video": torch.randn(len(match), 3, 4, 32, 32), "audio": torch.randn(len(match), 1, 32, 32),
            "match": torch.tensor(match), "index": index, "audio_index": torch.where(torch.tensor(match) == 1, index, 9)}


def test_head_fuses_by_concatenation():
    head = CorrespondenceHead(4, 3, hidden_dim=5)
    video, audio = torch.randn(2, 4), torch.randn(2, 3)
    first, _, second = head.fuse
    expected = second(torch.relu(first(torch.cat([video, audio], 1))))
    assert torch.allclose(head(video, audio), expected)
    # the audio part matters: swapping which audio goes with which clip changes the logits
    assert not torch.allclose(head(video, audio), head(video, audio.flip(0)))


def test_contrastive_loss_is_avts_formula():
    distance = torch.tensor([0.1, 0.5, 1.2, 0.3], dtype=torch.float64)
    match = torch.tensor([1, 0, 0, 1])
    margin = 0.99
    expected = sum(d**2 if y else max(0.0, margin - d) ** 2 for d, y in zip(distance.tolist(), match.tolist())) / 4
    assert contrastive_pair_loss(distance, match, margin).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("form,backbones", [("binary", NARROW), ("contrastive", NARROW), ("nce", NARROW),
                                            ("nce", NARROW_TIMED)])
def test_step_reaches_both_networks_first_layers(form, backbones, one_thread):
    method = AVCorrespondence(AVCorrespondenceConfig(form=form, **backbones))
    loss, metrics = method.training_step(method.model, av_batch([1, 0, 0, 1]))
    loss.backward()
    assert loss.item() > 0 and metrics["accuracy"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert method.model.video.network.stem[0].weight.grad.abs().sum() > 0
    assert method.model.audio.trunk[0].weight.grad.abs().sum() > 0


def test_contrastive_prediction_is_distance_under_half_margin():
    method = AVCorrespondence(AVCorrespondenceConfig(form="contrastive", margin=0.8, **NARROW))
    assert method.predict_from(torch.tensor([0.1, 0.39, 0.41, 1.5])).tolist() == [1, 1, 0, 0]


def test_bad_form_is_refused():
    with pytest.raises(ValueError, match="form"):
        AVCorrespondenceConfig(form="triplet")
    with pytest.raises(ValueError, match="pair_fusion"):
        AVCorrespondenceConfig(form="nce", pair_fusion="early")
    with pytest.raises(ValueError, match="projection 'deep' not in"):
        AVCorrespondenceConfig(form="nce", projection="deep")
    with pytest.raises(ValueError, match="needs form='nce' and a VGG audio backbone"):
        AVCorrespondenceConfig(form="binary", **NARROW_TIMED)
    with pytest.raises(ValueError, match="needs form='nce' and a VGG audio backbone"):
        AVCorrespondenceConfig(form="nce", **dict(NARROW_TIMED, audio_backbone="resnet18"))


def nce_reference(video, audio, match, index, audio_index, temperature):
    """InfoNCE written out in float64 loops: each matching pair's clip against every window and its
    window against every clip, other keys of the anchor's own video left out, averaged."""
    total, anchors = 0.0, 0
    for i in range(len(match)):
        if match[i] != 1:
            continue
        for anchor, keys, anchor_video, key_videos in ((video, audio, index, audio_index), (audio, video, audio_index, index)):
            terms = [math.exp(float(anchor[i] @ keys[j]) / temperature) for j in range(len(match))
                     if j == i or key_videos[j] != anchor_video[i]]
            total += 0.5 * -math.log(math.exp(float(anchor[i] @ keys[i]) / temperature) / sum(terms))
        anchors += 1
    return total / anchors


def test_nce_loss_is_the_written_out_formula():
    generator = torch.Generator().manual_seed(3)
    video = torch.nn.functional.normalize(torch.randn(6, 8, generator=generator, dtype=torch.float64), dim=1)
    audio = torch.nn.functional.normalize(torch.randn(6, 8, generator=generator, dtype=torch.float64), dim=1)
    match = torch.tensor([1, 0, 1, 0, 1, 1])
    index = torch.tensor([0, 1, 2, 3, 4, 0])  # rows 0 and 5: two clips of video 0 (each masks the other)
    audio_index = torch.tensor([0, 5, 2, 3, 4, 0])  # row 1: another video's window; row 3: a shifted one
    loss = correspondence_nce_loss(video, audio, match, index, audio_index, temperature=0.2)
    assert loss.item() == pytest.approx(nce_reference(video, audio, match, index, audio_index, 0.2), rel=1e-12)
    # a negative row's window is a key for every anchor: put it on clip 0 and clip 0's loss rises
    closer = audio.clone()
    closer[1] = video[0]
    assert correspondence_nce_loss(video, closer, match, index, audio_index, temperature=0.2) > loss + 0.1


def test_nce_pair_logit_is_cosine_plus_fusion_starts_negative_and_decides():
    method = AVCorrespondence(AVCorrespondenceConfig(form="nce", **NARROW))
    head = method.model.head
    generator = torch.Generator().manual_seed(0)
    video = torch.randn(5, head.video[0].in_features, generator=generator)
    audio = torch.randn(5, head.audio[0].in_features, generator=generator)
    video_embedding, audio_embedding, logit = head(video, audio)
    cosine = (video_embedding * audio_embedding).sum(1)
    first, _, second = head.pair.fuse
    fused = second(torch.relu(first(torch.cat([video, audio], 1)))).squeeze(1)
    assert torch.allclose(logit, head.scale * cosine + head.bias + fused, atol=1e-6)
    assert torch.allclose(video_embedding.norm(dim=1), torch.ones(5))
    assert (logit < 0).all()  # at initialisation a pair is not said to correspond
    # the pair loss reaches the fusion, scale and bias, not the embeddings' projections
    logit.sum().backward()
    assert head.pair.fuse[0].weight.grad.abs().sum() > 0 and head.scale.grad != 0 and head.bias.grad != 0
    assert head.video[0].weight.grad is None and head.audio[0].weight.grad is None
    assert method.predict_from((video_embedding, audio_embedding, torch.tensor([-0.1, 0.2, 0.0, 3.0, -2.0]))
                               ).tolist() == [0, 1, 0, 1, 0]


def test_pair_loss_weighs_positives_and_negatives_equally():
    logit = torch.tensor([2.0, -1.0, 0.5, -3.0, 1.0], dtype=torch.float64)
    match = torch.tensor([1, 0, 1, 0, 0])

    def bce(z, y):
        return -math.log(1 / (1 + math.exp(-z))) if y else -math.log(1 - 1 / (1 + math.exp(-z)))

    positives = [bce(z, 1) for z, y in zip(logit.tolist(), match.tolist()) if y]
    negatives = [bce(z, 0) for z, y in zip(logit.tolist(), match.tolist()) if not y]
    expected = 0.5 * (sum(positives) / len(positives) + sum(negatives) / len(negatives))
    assert balanced_pair_loss(logit, match).item() == pytest.approx(expected, rel=1e-12)
    # three times as many copies of the positives: the same loss (the mix does not move the decision)
    more = torch.cat([logit, logit[match == 1], logit[match == 1]]), torch.cat([match, match[match == 1], match[match == 1]])
    assert balanced_pair_loss(*more).item() == pytest.approx(expected, rel=1e-12)


def flash_and_click_features(count, generator):
    """Per-step features of clips that flash at one of 4 steps, and of sound that clicks in one of 12
    bins: aligned when the click falls in the flash's bins (3 per step), shifted otherwise. Pooled
    (video: mean over time, audio: max) every clip and every window looks the same."""
    flash = torch.randint(0, 4, (count,), generator=generator)
    aligned = torch.rand(count, generator=generator) < 0.5
    other = (flash + torch.randint(1, 4, (count,), generator=generator)) % 4
    click_step = torch.where(aligned, flash, other)
    video, audio = torch.zeros(count, 8, 4), torch.zeros(count, 8, 12)
    video[torch.arange(count), 0, flash] = 1.0
    audio[torch.arange(count), 0, 3 * click_step + torch.randint(0, 3, (count,), generator=generator)] = 1.0
    return video, audio, aligned.float()


def test_temporal_fusion_tells_an_aligned_pair_from_a_shifted_one_that_pooling_cannot():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    head = PairEmbeddingHead(8, 8, embed_dim=4, fusion="temporal")
    optimizer = torch.optim.Adam(head.pair.parameters(), lr=1e-2)
    for _ in range(150):
        video, audio, aligned = flash_and_click_features(64, generator)
        loss = balanced_pair_loss(head(video, audio)[2], aligned)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    video, audio, aligned = flash_and_click_features(400, generator)  # held out
    with torch.no_grad():
        accuracy = ((head(video, audio)[2] > 0).float() == aligned).float().mean().item()
    print(f"temporal fusion, held-out alignment accuracy {accuracy:.3f} (chance 0.5)")
    assert accuracy > 0.95
    # what a pooled fusion would see: one feature for every clip and one for every window
    assert torch.equal(video.mean(2), video.mean(2)[:1].expand_as(video.mean(2)))
    assert torch.equal(audio.amax(2), audio.amax(2)[:1].expand_as(audio.amax(2)))
