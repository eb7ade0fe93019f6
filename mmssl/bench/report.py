"""The profiler's outputs: the tables a user reads, the JSON with every figure, and a PNG chart.

JSON schema (`SCHEMA` in profile.py; keys are stable, additions bump the version):
  schema, date, command, machine, settings, resize_filtering, datasets, unavailable,
  results[]: ROW_KEYS, stages[]: per configuration and DALI device, gop_comparison[], training.
"""

from __future__ import annotations

import json
from pathlib import Path

REPORT_KEYS = ("schema", "date", "command", "machine", "settings", "resize_filtering", "datasets", "unavailable",
               "results", "stages", "gop_comparison", "training")
ROW_KEYS = ("backend", "pipeline", "gop", "threads", "batch_size", "hw_decoder_load", "rounds", "warmup_batches",
            "batches_per_round", "samples_per_round", "wall_s_per_round", "samples_per_s", "cpu_ms_per_sample",
            "cpu_utilisation", "gpu", "ratio_to_torch", "cpu_ratio_to_torch")


def _ratio(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def row_label(row: dict) -> str:
    load = f" hw={row['hw_decoder_load']:g}" if row["hw_decoder_load"] is not None else ""
    return row["backend"] + load


CONFIG_HEADER = f"{'gop':>4} {'thr':>3} {'batch':>5}"


def config_cells(entry: dict) -> str:
    """The configuration an entry was measured in: GOP, threads, batch size."""
    return f"{entry['gop'] or '-':>4} {entry['threads']:>3} {entry['batch_size']:>5}"


def results_table(rows: list[dict]) -> list[str]:
    """One line per row: median samples/s (min-max over rounds), ratios to torch, CPU, GPU."""
    lines = [f"{'backend':<22} {CONFIG_HEADER} {'samples/s':>9} {'(min-max)':>13} {'x torch':>7} "
             f"{'cpu ms/smp':>10} {'cpu x torch':>11} {'cpu util':>8} {'gpu util':>8} {'gpu MiB':>8}"]
    for r in rows:
        rate, gpu = r["samples_per_s"], r["gpu"]
        gpu_util = f"{gpu['utilisation_pct_mean']:.0f}%" if gpu["available"] else "-"
        gpu_mib = f"{gpu['peak_memory_mib']:.0f}" if gpu["available"] else "-"
        lines.append(f"{row_label(r):<22} {config_cells(r)} "
                     f"{rate['median']:>9.1f} {rate['min']:>6.1f}-{rate['max']:<6.1f} {_ratio(r['ratio_to_torch']):>7} "
                     f"{r['cpu_ms_per_sample']['median']:>10.2f} {_ratio(r['cpu_ratio_to_torch']):>11} "
                     f"{100 * r['cpu_utilisation']['median']:>7.0f}% {gpu_util:>8} {gpu_mib:>8}")
    return lines


def stages_table(stages: list[dict]) -> list[str]:
    """Read, decode and augment per sample (CPU | wall ms), and how close the loader comes to its ceiling."""
    header = (f"{'backend':<10} {CONFIG_HEADER} {'read':>13} {'decode':>13} {'augment':>13} {'decode ceiling/s':>16} "
              f"{'of ceiling':>10}")
    lines = ["stage breakdown, ms per sample (CPU, all processes | wall):", header]
    for s in stages:
        cpu, wall = s["cpu_ms_per_sample"], s["wall_ms_per_sample"]
        cells = " ".join(f"{cpu[k]:>6.2f}|{wall[k]:<6.2f}" for k in ("read", "decode", "augment"))
        lines.append(f"{s['backend']:<10} {config_cells(s)} {cells} {s['decode_ceiling_samples_per_s']:>16.1f} "
                     f"{s['of_ceiling']:>10.2f}")
    return lines


def gop_table(comparison: list[dict]) -> list[str]:
    """Each backend at each GOP, against itself at the longest."""
    header = f"{'backend':<18} {CONFIG_HEADER} {'samples/s':>9} {'cpu ms/smp':>10} {'x longest GOP':>13}"
    return ["GOP comparison (same raw videos prepared at each GOP):", header] + [
        f"{c['backend']:<18} {config_cells(c)} {c['samples_per_s']:>9.1f} {c['cpu_ms_per_sample']:>10.2f} "
        f"{c['x_longest_gop']:>13.2f}" for c in comparison]


def training_lines(training: dict) -> list[str]:
    t = training
    return [f"training: recipe {t['recipe']} ({t['recipe_config']}, method {t['method']}, pipeline {t['pipeline']}, "
            f"batch {t['batch_size']}, {t['device']}, {t['steps']} steps)",
            f"  synthetic (one batch replayed): {t['synthetic_steps_per_s']:.2f} steps/s; fed by the loader: "
            f"{t['fed_steps_per_s']:.2f} steps/s; of the fed step time, {100 * t['data_wait_fraction']:.0f}% waiting "
            f"for data, {100 * t['data_overhead_fraction']:.0f}% lost to the loader in all (waiting + CPU it takes)"]


def render(report: dict) -> str:
    """Everything a user reads after a run."""
    lines = [f"resize filtering: {report['resize_filtering']}"]
    lines += [f"data: {d['description']}" for d in report["datasets"]]
    lines += [f"{u['backend']}: skipped, {u['reason']}" for u in report["unavailable"]]
    lines += results_table(report["results"])
    if report["stages"]:
        lines += stages_table(report["stages"])
    if report["gop_comparison"]:
        lines += gop_table(report["gop_comparison"])
    if report["training"]:
        lines += training_lines(report["training"])
    return "\n".join(lines)


def write_json(report: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2, default=str))


def plot(report: dict, path: str | Path) -> None:
    """A bar per row: median samples/s with the min-max spread over rounds, grouped by configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["results"]
    labels = [f"{row_label(r)}\nthr {r['threads']} b {r['batch_size']}" + (f" gop {r['gop']}" if r["gop"] else "")
              for r in rows]
    medians = [r["samples_per_s"]["median"] for r in rows]
    errors = [[m - r["samples_per_s"]["min"] for m, r in zip(medians, rows)],
              [r["samples_per_s"]["max"] - m for m, r in zip(medians, rows)]]
    colours = ["tab:green" if r["backend"].startswith("dali") else "tab:blue" if r["backend"] == "torch" else "tab:grey"
               for r in rows]
    figure, axes = plt.subplots(figsize=(max(6.0, 0.9 * len(rows)), 4.5))
    axes.bar(range(len(rows)), medians, yerr=errors, color=colours, capsize=3)
    axes.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=7)
    axes.set_ylabel("samples/s (median, min-max)")
    machine = report["machine"]
    axes.set_title(f"{report['settings']['pipeline']} on {machine['cpu_model']} ({machine['cores_usable']} cores), "
                   f"{report['date'][:10]}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
