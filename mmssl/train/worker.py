"""The per-worker training loop that Ray Train runs on every rank: batch -> step -> report.

Each worker builds its reader shard (`shard_id` = world rank), its method (networks + objective
state such as its memory-bank shard), wraps the networks in DDP, and resumes from the run's latest
checkpoint when there is one. Every rank calls `ray.train.report` equally often (it is a barrier).
Workers write no run files: what the run directory records travels in the reports to the driver
(`mmssl.cluster.run_files`), so the nodes need not share a disk.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import ray.train
import torch
from torch.nn.parallel import DistributedDataParallel

from mmssl.cluster.run_files import RECORDS_KEY
from mmssl.objectives import METHODS
from mmssl.pipelines.loader import build_loader
from mmssl.train.checkpoint import LoadedCheckpoint, read_checkpoint, write_rank_files
from mmssl.train.config import RunSpec
from mmssl.train.precise_bn import refresh_bn_statistics
from mmssl.train.progress import StepMeter, host_values, progress_line
from mmssl.train.schedule import build_optimizer, build_scheduler, scaled_lr
from mmssl.train.state_digest import state_digest
from mmssl.train.step_settings import StepSettings, compiled, optimizer_step, prepare_model


def train_worker(config: dict) -> None:
    """Ray Train's train_loop_per_worker; `config["spec"]` is the RunSpec."""
    spec: RunSpec = config["spec"]
    _quiet_ray_train_logs()
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device() if spec.cluster.use_gpu else torch.device("cpu")
    if device.type == "cpu":
        torch.set_num_threads(spec.train.torch_threads or max(1, int(spec.cluster.cpus_per_worker)))
    records = {"placement": _placement(context)}  # for the run files, sent with the first report

    loader, method, optimizer, step = _build_and_restore(spec, rank, world_size, device, records)
    settings = StepSettings.for_device(spec.train, device)
    model = prepare_model(method.model, settings)
    if world_size > 1:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    model = compiled(model, settings)
    total_steps = step + loader.batches_left(spec.train.epochs)  # the rest, on this run's number of workers
    if spec.train.max_steps is not None:
        total_steps = min(total_steps, spec.train.max_steps)
    # the lr of this run's global batch, also after a resume on another number of workers
    scheduler = build_scheduler(optimizer, scaled_lr(spec.optim, spec.train.batch_size * world_size), total_steps,
                                spec.optim.warmup_steps, spec.optim.final_lr_fraction, start_step=step,
                                drop_at=spec.optim.lr_drop_at, drop_factor=spec.optim.lr_drop_factor)

    autocast = settings.autocast(device)
    meter = StepMeter(world_size, spec.train.batch_size)
    batches = _endless(loader)
    shared_bad = {sample.index for sample in loader.bad_samples}  # bad samples every rank knows of
    listed_bad = set(shared_bad)  # bad samples already sent to the run's bad_samples.jsonl (by rank 0)
    pending_knn = None  # rank 0's latest held-out kNN, reported with the next metrics
    started = time.perf_counter()
    indices = []  # (step, this rank's sample indices) since the last report, with train.record_sample_indices
    while step < total_steps:
        batch = next(batches)
        meter.loader_done()
        if spec.train.record_sample_indices:  # a host read: only when asked for
            indices.append({"step": step + 1, "rank": rank, "world_size": world_size, "index": batch["index"].tolist()})
        loss, step_metrics = optimizer_step(method, model, optimizer, batch, autocast)
        scheduler.step()
        step += 1
        meter.step_done(loss)  # metrics stay on the device until a log step reads them
        _maybe_inject_failure(spec, rank, step)

        last = step == total_steps
        epoch = loader.epochs_done
        epoch_ended = loader.position == loader.num_samples  # the last batch of an epoch was just returned
        knn_due = spec.train.knn_every_epochs > 0 and epoch_ended and epoch % spec.train.knn_every_epochs == 0
        if knn_due and rank == 0:
            from mmssl.eval.periodic_knn import held_out_knn_top1

            pending_knn = held_out_knn_top1(spec, method)
            print(f"epoch {epoch}: held-out kNN top-1 {pending_knn:.3f}", flush=True)
        if step % spec.train.log_every_steps == 0 or step % spec.train.checkpoint_every_steps == 0 or last or knn_due:
            _share_bad_samples(loader, world_size, shared_bad)  # before a checkpoint saves the loader's set
            metrics = dict(meter.summary(), **host_values(step_metrics), step=step, epoch=epoch,
                           lr=scheduler.get_last_lr()[0], **_sample_counts(loader))
            if last:
                metrics["train_time_s"] = time.perf_counter() - started
                if spec.train.precise_bn_batches:  # the last checkpoint carries statistics of its own weights
                    refresh_bn_statistics(method.model, batches, spec.train.precise_bn_batches,
                                          method.forward_for_bn_statistics)
            if pending_knn is not None:
                metrics["knn_top1"], pending_knn = pending_knn, None
            if rank == 0:
                print(progress_line(step, total_steps, epoch, metrics, metrics["lr"]), flush=True)
            if rank == 0 and (new_bad := [s for s in loader.bad_samples if s.index not in listed_bad]):
                records["bad_samples"] = [dataclasses.asdict(sample) for sample in new_bad]
                listed_bad.update(sample.index for sample in new_bad)
            if indices:
                records["sample_indices"], indices = indices, []
            if records:
                metrics[RECORDS_KEY], records = records, {}
            if step % spec.train.checkpoint_every_steps == 0 or last:
                _report_with_checkpoint(metrics, step, epoch, world_size, rank, method, optimizer, loader)
            else:
                ray.train.report(metrics)


def _build_and_restore(spec: RunSpec, rank: int, world_size: int, device: torch.device, records: dict):
    """(loader, method, optimizer, step): this rank's reader shard, method and optimizer, restored from the
    run's latest checkpoint when there is one (then this rank's resume record is added to `records`)."""
    with _restored_checkpoint() as restored:  # its bank rows are read from disk while it is open
        loader = build_loader(
            spec.pipeline, spec.data_dir, batch_size=spec.train.batch_size,
            device="gpu" if device.type == "cuda" else "cpu", device_id=device.index if device.type == "cuda" else None,
            shard_id=rank, num_shards=world_size, seed=spec.train.seed, num_threads=spec.train.loader_threads,
            checkpoint=_loader_checkpoint(restored, rank, world_size), options=spec.pipeline_options,
            store=spec.train.store_options(),
        )
        torch.manual_seed(spec.train.seed)  # any other torch randomness in the run is reproducible too
        _, method_class = METHODS[spec.method]
        # the bank has a row per sample the pipeline can use (e.g. the photos of a photo+video dataset)
        method = method_class(spec.method_config, num_samples=loader.num_samples, rank=rank, world_size=world_size,
                              device=device, seed=spec.train.seed)  # builds its networks on `device`, same on every rank
        optimizer = build_optimizer(method.model.parameters(), spec.optim, spec.train.batch_size * world_size)
        if restored is None:
            return loader, method, optimizer, 0
        _load_restored(restored, method, optimizer, rank)
        records["resume"] = _resume_record(rank, restored.step, method)
        return loader, method, optimizer, restored.step


def _quiet_ray_train_logs() -> None:
    """Ray Train logs a line per report and per checkpoint on every rank; keep warnings only.

    Some of its loggers are named by file path rather than module name, so match both."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("ray.train") or f"{os.sep}ray{os.sep}train{os.sep}" in name:
            logging.getLogger(name).setLevel(logging.WARNING)


def _endless(loader):
    """Batches across epochs: the loader yields one epoch per iteration (never none: that would spin forever)."""
    while True:
        count = 0
        for batch in loader:
            count += 1
            yield batch
        if count == 0:
            raise RuntimeError(f"epoch {loader.epoch} of the {loader.pipeline!r} loader on rank {loader.shard_id} yielded "
                               f"no batch (batches per epoch: {loader.batches_per_epoch}); this is a bug, please report it")


def _share_bad_samples(loader, world_size: int, shared: set[int]) -> None:
    """Pool the samples each rank found bad since the last call, so no rank feeds them again (each loader
    leaves them out from its next epoch). Called at the same steps on every rank: it is a collective."""
    if world_size == 1:
        return
    new = [sample for sample in loader.bad_samples if sample.index not in shared]
    gathered: list = [None] * world_size
    torch.distributed.all_gather_object(gathered, new)
    loader.add_bad_samples([sample for found in gathered for sample in found])
    shared.update(sample.index for sample in loader.bad_samples)


def _report_with_checkpoint(metrics, step, epoch, world_size, rank, method, optimizer, loader) -> None:
    trainer_state = None
    if rank == 0:  # no lr schedule state: the schedule is a function of the step and this run's global batch
        trainer_state = {"model": method.model.state_dict(), "optimizer": optimizer.state_dict()}
    with tempfile.TemporaryDirectory(prefix="mmssl-ckpt-") as tmp:
        write_rank_files(tmp, rank, step, epoch, world_size, method.checkpoint_state(), loader.checkpoint(), trainer_state)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))


def _sample_counts(loader) -> dict[str, int]:
    """What the run feeds on: samples the pipeline can use, and those found bad so far on all ranks (the
    ranks have just pooled their bad samples, so every rank's count is the run's)."""
    return {"samples_used": loader.num_samples, "samples_skipped": loader.samples_skipped,
            "modality": loader.modality, **{f"dataset_{kind}_samples": n for kind, n in loader.dataset_modalities().items()},
            **{f"unused_{kind}_samples": n for kind, n in loader.unused_modalities().items()}}


@contextmanager
def _restored_checkpoint() -> Iterator[LoadedCheckpoint | None]:
    """The run's latest checkpoint, if Ray handed us one, readable until the block ends.

    Read where it lies, on local or shared storage as on an object store: there each rank fetches the
    small files and, by byte range, the bank rows it keeps (Ray's `as_directory` would download every
    rank's files to every rank)."""
    checkpoint = ray.train.get_checkpoint()
    yield None if checkpoint is None else read_checkpoint(checkpoint.path, checkpoint.filesystem)


def _load_restored(restored: LoadedCheckpoint, method, optimizer, rank: int) -> None:
    """Load a checkpoint into the method (networks and bank shard) and the optimizer."""
    method.model.load_state_dict(restored.trainer_state["model"])
    optimizer.load_state_dict(restored.trainer_state["optimizer"])
    method.load_checkpoint_state(restored.method_states)
    if rank == 0:
        print(f"resumed from step {restored.step} (saved by {restored.world_size} worker(s))", flush=True)


def _loader_checkpoint(restored: LoadedCheckpoint | None, rank: int, world_size: int) -> str | None:
    """This rank's own loader state when the world size is unchanged (exact: the next batch is the one the
    run would have read); else any rank's, whose global part (epoch, position, bad samples) every rank
    shares: the loader then shares out the positions of the epoch not yet handed out over the new ranks."""
    if restored is None:
        return None
    return restored.loader_checkpoints[rank if restored.world_size == world_size else 0]


def _resume_record(rank: int, step: int, method) -> dict:
    """What this rank resumed with, so tests (and people) can check it against the checkpoint."""
    return {
        "rank": rank,
        "step": step,
        "model_digest": state_digest(method.model.state_dict()),
        "method_state_digest": state_digest(method.checkpoint_state()),
    }


def _placement(context) -> dict:
    """Which node this rank runs on, for operators and tests."""
    return {"rank": context.get_world_rank(), "local_rank": context.get_local_rank(),
            "node_rank": context.get_node_rank(), "node_ip": ray.util.get_node_ip_address(), "pid": os.getpid()}


def _maybe_inject_failure(spec: RunSpec, rank: int, step: int) -> None:
    """Fault injection for tests: the chosen rank dies hard, once per run, at `train.fail_at_step`."""
    if spec.train.fail_at_step != step or rank != spec.train.fail_rank:
        return
    from mmssl.cluster.run_storage import RunStorage

    run = RunStorage.of(spec.cluster.storage_path, str(spec.cluster.name))  # on local disk or a store
    if run.exists("fault-injected"):
        return
    run.write_text("fault-injected", f"rank {rank} killed at step {step}\n")
    os._exit(1)
