"""The loader profiler behind tools/bench_loader.py: every pipeline family, DALI (GPU, CPU) against the
baseline a user would otherwise run, with stage breakdown, sweeps and the training-side wait.

Modules, one job each: `demo_data` (generated datasets), `backends` (what each backend iterates),
`timing` (warm-up, timed batches, exact accounting), `cpu_time`, `gpu_monitor`, `machine`,
`stages` (read / decode / augment), `training` (steps/s synthetic vs fed), `profile` (the run:
sweeps, rounds, rows), `report` (table, JSON, chart).
"""
