"""Typed configuration shared by every recipe: optimisation, the training loop, and the cluster."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmssl.data.shard_reader import DEFAULT_REQUESTS_IN_FLIGHT, StoreOptions


OPTIMIZERS = ("sgd", "adam")


@dataclass
class OptimConfig:
    """SGD with momentum and a cosine schedule, the PIRL paper's recipe (lr 0.12 at batch 1024); or
    Adam (`optimizer="adam"`, as L3-Net trains), with the same lr scaling and schedule. Optionally a
    step drop on top (`lr_drop_at`, `lr_drop_factor`) for the last part of the run."""

    optimizer: str = "sgd"  # one of OPTIMIZERS; momentum applies to sgd only (adam: betas 0.9, 0.999)
    base_lr: float = 0.12
    base_batch_size: int = 1024  # lr scales linearly with the global batch: lr = base_lr * B / base_batch_size
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 0
    final_lr_fraction: float = 0.0  # cosine decays to base lr * this
    lr_drop_at: float = 1.0  # from this fraction of the run's steps on, lr * lr_drop_factor (1.0: never)
    lr_drop_factor: float = 0.1

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optim.optimizer={self.optimizer!r}: choose one of {OPTIMIZERS}")
        if self.base_lr <= 0 or self.base_batch_size <= 0:
            raise ValueError(f"optim: base_lr ({self.base_lr}) and base_batch_size ({self.base_batch_size}) must be > 0")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"optim.momentum={self.momentum}: must be in [0, 1)")
        if self.warmup_steps < 0 or not 0 <= self.final_lr_fraction <= 1:
            raise ValueError("optim: warmup_steps must be >= 0 and final_lr_fraction in [0, 1]")
        if not 0 < self.lr_drop_at <= 1 or not 0 < self.lr_drop_factor <= 1:
            raise ValueError(f"optim: lr_drop_at ({self.lr_drop_at}) and lr_drop_factor ({self.lr_drop_factor}) "
                             "must be in (0, 1]")


@dataclass
class TrainConfig:
    """The loop: how long, how big, how often to log and checkpoint."""

    epochs: int = 200
    max_steps: int | None = None  # stop early after this many steps (None: run all epochs)
    batch_size: int = 32  # per worker, as in the paper (32 GPUs x 32)
    checkpoint_every_steps: int = 1000
    keep_checkpoints: int = 3
    log_every_steps: int = 20
    seed: int = 0
    loader_threads: int = 4  # DALI CPU threads per worker
    torch_threads: int = 0  # intra-op threads per CPU worker (0: the worker's CPU share)
    bf16: bool = True  # autocast on GPU (ignored on CPU)
    channels_last: bool = True  # convolution trunks in NHWC / NDHWC under bf16 on GPU (step_settings.py)
    cudnn_benchmark: bool = True  # cuDNN picks its fastest algorithms for the loader's fixed shapes (GPU)
    compile: bool = False  # torch.compile the model (a compile at start; any device)
    fail_at_step: int | None = None  # fault injection for tests: rank `fail_rank` dies once at this step
    fail_rank: int = 1
    knn_every_epochs: int = 0  # > 0: held-out kNN of the current network on `knn_data` every this many epochs
    knn_data: str | None = None  # labelled data (class folders, or prepared with labels.parquet)
    precise_bn_batches: int = 0  # > 0: recompute BN statistics over this many batches before the last checkpoint
    record_sample_indices: bool = False  # each rank's batch indices per step into the run's sample_indices.jsonl
    # a dataset on an object store (--data s3://...): range requests each reading process keeps in flight, and an
    # optional local cache of the members read (off unless both are set); see mmssl/data/shard_reader.py
    store_requests_in_flight: int = DEFAULT_REQUESTS_IN_FLIGHT
    store_cache_dir: str | None = None
    store_cache_gb: float = 0.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "checkpoint_every_steps", "keep_checkpoints", "log_every_steps", "loader_threads",
                     "store_requests_in_flight"):
            if getattr(self, name) <= 0:
                raise ValueError(f"train.{name}={getattr(self, name)}: must be a positive integer")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ValueError(f"train.max_steps={self.max_steps}: must be positive or none")
        if self.store_cache_gb < 0:
            raise ValueError(f"train.store_cache_gb={self.store_cache_gb}: must be >= 0 (0: no cache)")
        if self.precise_bn_batches < 0:
            raise ValueError(f"train.precise_bn_batches={self.precise_bn_batches}: must be >= 0")
        if self.knn_every_epochs < 0 or (self.knn_every_epochs > 0 and not self.knn_data):
            raise ValueError(f"train.knn_every_epochs={self.knn_every_epochs} needs train.knn_data=LABELLED_DIR "
                             "(and must be >= 0)")

    def store_options(self) -> StoreOptions:
        """How the loader fetches members when the dataset is on an object store."""
        return StoreOptions(self.store_requests_in_flight, self.store_cache_dir, int(self.store_cache_gb * 2**30))


@dataclass
class ClusterConfig:
    """Where to run: an existing Ray cluster (`address`) or a local one, and how many workers."""

    address: str | None = None  # "auto" or "ray://host:10001"; None starts a local Ray
    num_workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float = 1.0
    storage_path: str = "~/mmssl_runs"
    name: str | None = None  # run name; re-using a name resumes that run
    max_failures: int = 3  # restarts after worker failures before giving up
    wait_for_resources_s: float = 0.0  # an autoscaling cluster may grow this long to fit the run; 0: refuse at once

    def __post_init__(self) -> None:
        if self.num_workers <= 0:
            raise ValueError(f"cluster.num_workers={self.num_workers}: must be >= 1")
        if self.cpus_per_worker <= 0:
            raise ValueError(f"cluster.cpus_per_worker={self.cpus_per_worker}: must be > 0")
        if self.wait_for_resources_s < 0:
            raise ValueError(f"cluster.wait_for_resources_s={self.wait_for_resources_s}: must be >= 0 (0: no waiting)")


@dataclass
class RunSpec:
    """Everything a worker needs, picklable: which method and pipeline, on which data, how."""

    method: str  # key of mmssl.objectives.METHODS
    method_config: object
    pipeline: str  # name understood by mmssl.pipelines.loader.build_loader
    data_dir: str
    pipeline_options: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
