"""On 2 gloo ranks, losses over gathered keys train like one process on the joined batch.

Each rank takes the loss over its half of the anchors against every rank's keys, back-propagates and
averages parameter gradients (what DDP does); with `all_gather_with_grad` that equals the gradient of
the single-process loss. A gather that detaches the other ranks' keys must not, or the test is blind.
"""

import torch
import torch.distributed as dist
from torch import nn

from mmssl.memory.collectives import all_gather_cat, all_gather_with_grad
from mmssl.objectives.av_correspondence import correspondence_nce_loss
from mmssl.objectives.instance_contrast import instance_contrast_loss
from mmssl.objectives.simclr import nt_xent_loss

LOCAL_BATCH = 3
TEMPERATURE = 0.5
# video ids of the joined batch: 0 repeats within rank 0, 1 spans both ranks (masked across ranks)
VIDEOS = torch.tensor([0, 1, 0, 2, 1, 3])


def tiny_network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4)).double()


def joined_inputs() -> torch.Tensor:
    """Two views (or clips) of 2 * LOCAL_BATCH samples: [2, 2b, 5], float64."""
    return torch.randn(2, 2 * LOCAL_BATCH, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def identity_gather(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def detached_gather(tensor: torch.Tensor) -> torch.Tensor:
    """The old `all_gather_with_local_grad`: other ranks' rows carry no gradient."""
    pieces = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(pieces, tensor.detach().contiguous())
    pieces[dist.get_rank()] = tensor
    return torch.cat(pieces)


def simclr_loss(network, views, videos, all_videos, gather, offset) -> torch.Tensor:
    view_0, view_1 = network(views[0]), network(views[1])
    return nt_xent_loss(view_0, view_1, gather(view_0), gather(view_1), offset, TEMPERATURE)


def temporal_loss(network, clips, videos, all_videos, gather, offset) -> torch.Tensor:
    """As `Temporal.training_step`: symmetric instance contrast, same-video keys masked."""
    clip_a, clip_b = network(clips[0]), network(clips[1])
    return 0.5 * (
        instance_contrast_loss(clip_a, gather(clip_b), offset, TEMPERATURE, videos, all_videos)
        + instance_contrast_loss(clip_b, gather(clip_a), offset, TEMPERATURE, videos, all_videos)
    )


LOSSES = {"simclr": simclr_loss, "temporal": temporal_loss}
# av_correspondence's nce form: 2 anchors (match 1) on rank 0 and 3 on rank 1, so a per-rank mean
# would weigh them unequally; the windows' videos (audio_index) differ from the clips' on negatives
MATCH = torch.tensor([1, 0, 1, 1, 1, 1])
AUDIO_VIDEOS = torch.tensor([0, 3, 0, 2, 1, 3])


def av_nce_loss(network, pairs, videos, audio_videos, match) -> torch.Tensor:
    """The nce form's InfoNCE on unit embeddings of a clip (pairs[0]) and a window (pairs[1])."""
    video, audio = (torch.nn.functional.normalize(network(x), dim=1) for x in pairs)
    return correspondence_nce_loss(video, audio, match, videos, audio_videos, TEMPERATURE)


def parameter_gradients(network: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in network.parameters()])


def rank_worker(rank, world_size, out_dir):
    """Per loss and gather: this rank's half, backward, gradients averaged over ranks as DDP does."""
    local = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
    inputs, videos = joined_inputs()[:, local], VIDEOS[local]
    results = {}
    for loss_name, loss_fn in LOSSES.items():
        for gather_name, gather in (("with_grad", all_gather_with_grad), ("detached", detached_gather)):
            network = tiny_network()
            loss_fn(network, inputs, videos, all_gather_cat(videos), gather, rank * LOCAL_BATCH).backward()
            gradients = parameter_gradients(network)
            dist.all_reduce(gradients, op=dist.ReduceOp.SUM)
            results[loss_name, gather_name] = gradients / world_size
    network = tiny_network()
    av_nce_loss(network, inputs, videos, AUDIO_VIDEOS[local], MATCH[local]).backward()
    gradients = parameter_gradients(network)
    dist.all_reduce(gradients, op=dist.ReduceOp.SUM)
    results["av_nce"] = gradients / world_size
    torch.save(results, f"{out_dir}/rank{rank}.pt")


def single_process_gradients(loss_fn) -> torch.Tensor:
    network = tiny_network()
    loss_fn(network, joined_inputs(), VIDEOS, VIDEOS, identity_gather, 0).backward()
    return parameter_gradients(network)


def test_gathered_keys_give_single_process_gradients(gloo_ranks, tmp_path, one_thread):
    gloo_ranks(rank_worker, 2, str(tmp_path))
    per_rank = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    for loss_name, loss_fn in LOSSES.items():
        expected = single_process_gradients(loss_fn)
        for results in per_rank:
            assert torch.allclose(results[loss_name, "with_grad"], expected, rtol=1e-10, atol=1e-12), loss_name
            # the cross-rank negatives' share is missing from a detached gather
            assert not torch.allclose(results[loss_name, "detached"], expected, rtol=1e-3, atol=1e-6), loss_name
    # av_correspondence's nce form gathers inside; its anchors are counted over both ranks
    network = tiny_network()
    av_nce_loss(network, joined_inputs(), VIDEOS, AUDIO_VIDEOS, MATCH).backward()
    for results in per_rank:
        assert torch.allclose(results["av_nce"], parameter_gradients(network), rtol=1e-10, atol=1e-12)
