"""How big each part of the GPU check is, and how long it may take.

Two sets of sizes: the GPU's (one H100 in `GPU_BUDGET_S`, paper-scale models) and the dry run's
(a 2-core CPU machine: `dali-cpu`, gloo, 2 threads, the embedded recipes, a handful of samples), so
the same script runs everywhere and only the sizes differ. Each part may use its share of
`--budget-s` (its time limit); step counts scale with the budget, never below a floor that still
gives a figure. Loader rows are timed by seconds, planned inside the part from the time it has left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GPU_BUDGET_S = 450.0  # 7.5 minutes: a 15-minute loan minus start-up, staging, and room to rerun a part
DRY_RUN_BUDGET_S = 240.0  # limits only: the dry run itself takes about 30 s on a 2-core machine
PART_SHARES = {  # share of the budget each part may use: its time limit (they sum to 1)
    "facts": 0.02, "gpu_tests": 0.16, "data": 0.05, "loaders": 0.30, "training": 0.20, "step_hygiene": 0.22,
    "ddp": 0.05,
}
PARTS = tuple(PART_SHARES)
LOADER_PIPELINES = ("pirl", "jigsaw", "views", "clips", "av_pairs", "audio", "tracked_patches")
TRAINING_RECIPES = ("pirl_yfcc", "av_correspondence")
H100_NVDEC_ENGINES = 7  # published; used only when neither nvidia-smi nor NVML reports the count

# the dry run's options: tiny crops and a small permutation set (no 13 s Hamming search on a fresh machine)
DRY_RUN_OPTIONS = {
    "pirl": {"image_size": 32, "tile_crop_px": 48, "tile_px": 12},
    "jigsaw": {"tile_crop_px": 48, "tile_px": 12, "permutations": 24},
    "views": {"image_size": 32},
    "clips": {"frames": 4, "crop_px": 32},
    "av_pairs": {"frames": 4, "crop_px": 32, "audio_s": 0.5},
    "audio": {"audio_s": 0.5},
    "tracked_patches": {"patch_px": 24, "track_frames": 3, "search_px": 8},
}


@dataclass(frozen=True)
class CheckSizes:
    dry_run: bool
    budget_s: float
    device: str  # the loaders' and models' device: "gpu" or "cpu"
    backends: tuple[str, ...]  # bench_loader backends
    threads: int  # DALI threads = DataLoader workers
    torch_threads: int  # intra-op threads of a CPU run (1: spinning OpenMP threads on a shared 2-core machine
                        # slowed steps 30-fold in some dry runs); unused on a GPU
    batch_size: int  # loader rows
    images: int  # distinct generated photos, each stored `image_copies` times
    image_copies: int
    videos: int  # distinct generated videos (8 s with sound), each stored `video_copies` times
    video_copies: int
    loader_warmup: int  # untimed batches per loader row
    loader_seconds: tuple[float, float]  # (min, max) timed seconds per loader row
    nvdec_extra_pipelines: int  # clips rows with engines + this many pipelines, past saturation
    pipeline_options: dict = field(default_factory=dict)  # per loader pipeline
    recipe_config: str = "full"  # the recipes' "full" (paper-scale) or "embedded" config
    train_batch_size: int | None = None  # None: the recipe's own (the paper's per-GPU batch)
    train_steps: int = 100  # timed steps of each training run
    train_warmup_steps: int = 10
    hygiene_steps: int = 30  # timed steps per step-hygiene variant
    hygiene_warmup_steps: int = 5  # compile and cuDNN's autotuning happen here
    compile_backend: str = "inductor"
    ddp_backend: str = "nccl"
    bank_rows: int = 1_000_000
    bank_negatives: int = 32_000  # PIRL's
    bank_dim: int = 128
    ddp_steps: int = 20

    def limit_s(self, part: str) -> float:
        return PART_SHARES[part] * self.budget_s


def sizes_for(dry_run: bool, budget_s: float | None = None) -> CheckSizes:
    """The sizes of a run on this budget (default: the mode's own)."""
    reference = DRY_RUN_BUDGET_S if dry_run else GPU_BUDGET_S
    budget_s = reference if budget_s is None else budget_s
    if budget_s <= 0:
        raise ValueError(f"--budget-s must be > 0, got {budget_s}")
    scale = budget_s / reference

    def scaled(count: int, floor: int) -> int:
        return max(floor, round(count * scale))

    if dry_run:
        return CheckSizes(
            dry_run=True, budget_s=budget_s, device="cpu", backends=("dali-cpu", "torch"), threads=2, torch_threads=1,
            batch_size=2,
            images=12, image_copies=1, videos=2, video_copies=2, loader_warmup=0, loader_seconds=(0.05, 0.05),
            nvdec_extra_pipelines=1, pipeline_options=DRY_RUN_OPTIONS, recipe_config="embedded", train_batch_size=4,
            train_steps=scaled(2, 1), train_warmup_steps=1, hygiene_steps=scaled(2, 1), hygiene_warmup_steps=1,
            compile_backend="eager", ddp_backend="gloo", bank_rows=4096, bank_negatives=256, bank_dim=32,
            ddp_steps=scaled(2, 1))
    return CheckSizes(
        dry_run=False, budget_s=budget_s, device="gpu", backends=("dali-gpu", "dali-cpu", "torch"), threads=16,
        torch_threads=16,
        batch_size=32, images=scaled(512, 64), image_copies=4, videos=scaled(32, 8), video_copies=8, loader_warmup=3,
        loader_seconds=(1.0, 8.0), nvdec_extra_pipelines=2, pipeline_options={}, recipe_config="full",
        train_steps=scaled(100, 20), train_warmup_steps=10, hygiene_steps=scaled(30, 10), hygiene_warmup_steps=5,
        ddp_steps=scaled(20, 5))
