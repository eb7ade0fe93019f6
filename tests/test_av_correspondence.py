"""Audio-visual correspondence: the fusion head is an MLP on concat(video, audio); 2-way loss."""

import torch

from mmssl.objectives.av_correspondence import AVCorrespondence, AVCorrespondenceConfig, CorrespondenceHead


def test_head_fuses_by_concatenation():
    head = CorrespondenceHead(4, 3, hidden_dim=5)
    video, audio = torch.randn(2, 4), torch.randn(2, 3)
    first, _, second = head.fuse
    expected = second(torch.relu(first(torch.cat([video, audio], 1))))
    assert torch.allclose(head(video, audio), expected)
    # the audio part matters: swapping which audio goes with which clip changes the logits
    assert not torch.allclose(head(video, audio), head(video, audio.flip(0)))


def test_step(one_thread):
    method = AVCorrespondence(AVCorrespondenceConfig(video_backbone="r3d_18", audio_backbone="vgg"))
    batch = {"clip": torch.randn(2, 3, 4, 32, 32), "audio": torch.randn(2, 1, 32, 32), "label": torch.tensor([1, 0])}
    loss, metrics = method.training_step(method.model, batch)
    loss.backward()
    assert loss.item() > 0 and metrics["accuracy"] in (0.0, 0.5, 1.0)
    assert method.model.head.fuse[0].weight.grad.abs().sum() > 0
