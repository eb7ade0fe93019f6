"""The check's outputs: `gpu_check.json` (every figure, each part's status, the sizes, the machine),
`gpu_check.md` (the tables docs/benchmarks.md takes), and the table printed at the end.

A dry run says so at the top of both files, in every section title and in the printed table, so no
CPU figure can be read as a GPU figure. A part that failed or ran out of time shows its error; the
figures it recorded before that are shown with it.
"""

from __future__ import annotations

import json
from pathlib import Path

SCHEMA = "mmssl.gpu_check.v1"
DRY_RUN_NOTICE = "dry run, not GPU figures"


def _num(value, digits: int = 1, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def _pct(fraction) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)] + [
        "| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def facts_lines(result: dict) -> list[str]:
    gpu = result.get("gpu", {})
    if not gpu.get("available"):
        lines = [f"No GPU: {gpu.get('reason', 'not recorded')}."]
    else:
        engines = gpu.get("engine_counts_from") or f"not reported ({gpu.get('nvml_error', 'no MIG lines, no NVML')})"
        lines = _table(["GPU", "driver", "CUDA", "memory MiB", "NVDEC", "NVJPG", "engine counts from"],
                       [[gpu.get("name"), gpu.get("driver"), gpu.get("cuda"), gpu.get("memory_total_mib"),
                         gpu.get("nvdec_engines"), gpu.get("nvjpg_engines"), engines]])
    machine = result.get("machine", {})
    if machine:
        libraries = ", ".join(f"{k} {v}" for k, v in machine.get("libraries", {}).items() if v)
        lines += ["", f"CPU: {machine.get('cpu_model')} ({machine.get('cores_usable')} usable cores), "
                      f"Python {machine.get('python')}; {libraries}."]
    return lines


def gpu_tests_lines(result: dict) -> list[str]:
    counts = result.get("counts", {})
    lines = [f"`{result.get('command', '')}`: " + ", ".join(f"{n} {k}" for k, n in counts.items()), ""]
    return lines + _table(["test", "outcome", "s", "message"],
                          [[t["test"], t["outcome"], _num(t["seconds"]), t["message"][:120]] for t in result.get("tests", [])])


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def data_lines(result: dict) -> list[str]:
    images, videos = result.get("images", {}), result.get("videos", {})
    lines = []
    if images:
        lines.append(f"- {images['distinct']} photo-like JPEGs (long side {images['long_side_px']} px), each stored "
                     f"{_times(images['copies'])}")
    if videos:
        width, height = videos["size_px"]
        lines.append(f"- {videos['distinct']} videos ({videos['seconds']} s, {width}x{height}, {videos['fps']} fps, "
                     f"sound; GOP {videos['gop_frames']}, {videos['mean_mp4_kb']:.0f} kB per mp4), each stored "
                     f"{_times(videos['copies'])}")
    return lines


def loaders_lines(result: dict) -> list[str]:
    rows = []
    for pipeline, entry in result.get("pipelines", {}).items():
        for row in entry["rows"]:
            rows.append([pipeline, row["backend"], _num(row["samples_per_s"]), _num(row["x_torch"], 2),
                         _num(row["cpu_ms_per_sample"], 2), _num(row["gpu_utilisation_pct"], 0, "%"),
                         _num(row["gpu_peak_memory_mib"], 0)])
        rows += [[pipeline, u["backend"], "skipped: " + u["reason"], "", "", "", ""] for u in entry["unavailable"]]
    lines = [f"{result.get('threads')} threads, batch {result.get('batch_size')}; samples/s over the row's timed "
             "seconds after warm-up.", ""]
    lines += _table(["pipeline", "backend", "samples/s", "x torch", "CPU ms/sample", "GPU util", "GPU MiB"], rows)
    nvdec = result.get("nvdec")
    if nvdec:
        lines += ["", f"clips from several pipelines side by side ({nvdec['device']}; NVDEC engines: "
                      f"{nvdec['engines'] if nvdec['engines'] is not None else '-'}, {nvdec['engines_from']}):", ""]
        lines += _table(["pipelines", "DALI threads each", "samples/s", "x one pipeline", "NVDEC util"],
                        [[r["pipelines"], r["dali_threads_each"], _num(r["samples_per_s"]),
                          _num(r.get("x_one_pipeline"), 2), _num(r["gpu"].get("decoder_utilisation_pct_mean"), 0, "%")]
                         for r in nvdec["rows"]])
    return lines


def memory_cell(memory: dict) -> str:
    if memory.get("gpu", True) is None:
        return f"host RSS {_num(memory.get('host_peak_rss_mib'), 0)} MiB (no GPU)"
    smi = memory.get("nvidia_smi", {})
    return (f"torch {_num(memory.get('torch_peak_allocated_mib'), 0)} MiB, device "
            f"{_num(smi.get('peak_memory_mib'), 0) if smi.get('available') else '-'} MiB")


def training_lines(result: dict) -> list[str]:
    rows = [[r["recipe"], r["recipe_config"], ", ".join(f"{v}" for v in r["backbones"].values()), r["device"],
             r["batch_size"], r["steps"], _num(r["samples_per_s"]), _num(r["step_ms"]), _pct(r["loader_wait_fraction"]),
             memory_cell(r["memory"])] for r in result.values() if isinstance(r, dict) and "recipe" in r]
    return _table(["recipe", "config", "backbones", "device", "batch", "steps", "samples/s", "step ms", "loader wait",
                   "peak memory"], rows)


def hygiene_lines(result: dict) -> list[str]:
    lines = [f"{result.get('recipe')} ({result.get('recipe_config')}), batch {result.get('batch_size')} on "
             f"{result.get('device')}, one real batch replayed; {result.get('timed_steps')} timed steps after "
             f"{result.get('warmup_steps')}; compile backend {result.get('compile_backend')}.", ""]
    rows = [[v["variant"], _num(v["step_ms"], 2), _num(v.get("x_baseline"), 2),
             f"{v.get('host_reads_per_step', '-')} / {v.get('host_reads_per_log_step', '-')}",
             f"{v.get('cuda_syncs_per_step', '-')} / {v.get('cuda_syncs_per_log_step', '-')}"]
            for v in result.get("variants", [])]
    return lines + _table(["variant", "step ms", "x baseline", "host reads (step / log step)",
                           "CUDA syncs (step / log step)"], rows)


def ddp_lines(result: dict) -> list[str]:
    ddp, bank = result.get("ddp", {}), result.get("bank", {})
    rows = []
    if ddp:
        rows.append([f"DDP step, {ddp['steps']} steps", _num(ddp["ms_per_step"], 2),
                     "weights equal to unwrapped copy" if ddp["weights_equal"] else
                     f"weights differ by {ddp['max_weight_difference']:.3g}"])
    if bank:
        rows.append([f"bank lookup + update ({bank['rows']:,} rows x {bank['dim']}, {bank['negatives']:,} negatives)",
                     _num(bank["ms_per_lookup_and_update"], 2),
                     "equal to the local bank" if bank["equal_to_local_bank"] else "DIFFERS from the local bank"])
    return [f"backend {result.get('backend')} on {result.get('device')}, world size {result.get('world_size')}", ""] + \
        _table(["what", "ms", "check"], rows)


SECTIONS = {"facts": ("Machine", facts_lines), "gpu_tests": ("GPU-marked tests", gpu_tests_lines),
            "data": ("Generated data", data_lines), "loaders": ("Loaders (bench_loader)", loaders_lines),
            "training": ("One-GPU training runs", training_lines), "step_hygiene": ("Step hygiene", hygiene_lines),
            "ddp": ("NCCL: DDP and the sharded bank", ddp_lines)}


def headline(name: str, result: dict) -> str:
    """The part's main figure for the printed table."""
    if name == "facts":
        gpu = result.get("gpu", {})
        return f"{gpu.get('name')}, driver {gpu.get('driver')}" if gpu.get("available") else gpu.get("reason", "")
    if name == "gpu_tests":
        return ", ".join(f"{n} {k}" for k, n in result.get("counts", {}).items())
    if name == "data":
        return "; ".join(line[2:] for line in data_lines(result))[:90]
    if name == "loaders":
        best = [(p, max(r["samples_per_s"] for r in e["rows"])) for p, e in result.get("pipelines", {}).items() if e["rows"]]
        return ", ".join(f"{p} {rate:,.0f}/s" for p, rate in best)
    if name == "training":
        return ", ".join(f"{r['recipe']} {r['samples_per_s']:,.1f} samples/s" for r in result.values()
                         if isinstance(r, dict) and "recipe" in r)
    if name == "step_hygiene":
        variants = result.get("variants", [])
        return f"step ms {variants[0]['step_ms']:.1f} -> {variants[-1]['step_ms']:.1f}" if variants else ""
    if name == "ddp":
        bank = result.get("bank", {})
        return f"{result.get('backend')}: bank equal {bank.get('equal_to_local_bank')}" if bank else ""
    return ""


def markdown(report: dict) -> str:
    dry = report["dry_run"]
    suffix = f" ({DRY_RUN_NOTICE})" if dry else ""
    lines = [f"# GPU check{suffix}", ""]
    if dry:
        lines += [f"**{DRY_RUN_NOTICE}**: every figure below was measured on a CPU-only machine with the dry run's tiny "
                  "sizes, to prove the check runs. None of them is a GPU figure.", ""]
    lines += [f"{report['date']}, `{report['command']}`, budget {report['budget_s']:.0f} s, "
              f"{report['wall_s']:.0f} s in all.", ""]
    lines += _table(["part", "status", "wall s", "limit s"],
                    [[n, p["status"], _num(p["wall_s"]), _num(p["limit_s"], 0)] for n, p in report["parts"].items()])
    for name, part in report["parts"].items():
        title, render = SECTIONS[name]
        lines += ["", f"## {title}{suffix}", ""]
        if part["error"]:
            lines += [f"{part['status']}: " + part["error"].strip().splitlines()[-1], ""]
        if part["result"]:
            lines += render(part["result"])
    return "\n".join(lines) + "\n"


def console_table(report: dict) -> str:
    lines = [f"gpu_check: {DRY_RUN_NOTICE}" if report["dry_run"] else "gpu_check:",
             f"{'part':<13} {'status':<10} {'wall s':>7} {'limit s':>7}  headline"]
    for name, part in report["parts"].items():
        text = headline(name, part["result"]) if part["result"] else ""
        if part["error"]:
            text = (text + "; " if text else "") + part["error"].strip().splitlines()[-1][:100]
        lines.append(f"{name:<13} {part['status']:<10} {part['wall_s']:>7.1f} {part['limit_s']:>7.0f}  {text}")
    return "\n".join(lines)


def write(report: dict, out: Path) -> tuple[Path, Path]:
    json_path, markdown_path = Path(out) / "gpu_check.json", Path(out) / "gpu_check.md"
    json_path.write_text(json.dumps(report, indent=2, default=str))
    markdown_path.write_text(markdown(report))
    return json_path, markdown_path
