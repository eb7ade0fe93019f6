"""The run's files come from the ranks' reports, written where the driver runs: a rank's placement and
resume records reach the driver's run directory without that rank touching it."""

import json

from mmssl.cluster.run_files import RECORDS_KEY, RunFiles, without_records


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _report(rank, step, loss, **records):
    metrics = {"step": step, "loss": loss, "lr": 0.1, "modality": "image"}
    return dict(metrics, **{RECORDS_KEY: records}) if records else metrics


def test_every_rank_reaches_the_drivers_run_directory(tmp_path):
    files = RunFiles(tmp_path)
    placements = [{"rank": r, "node_rank": r, "node_ip": f"10.0.0.{r + 1}", "pid": 100 + r} for r in range(2)]
    resume = {"rank": 1, "step": 4, "model_digest": "ab", "method_state_digest": "cd"}
    files.after_report(None, [_report(0, 5, 2.5, placement=placements[0]),
                              _report(1, 5, 2.7, placement=placements[1], resume=resume)], None)
    files.after_report(None, [_report(0, 6, 2.25), _report(1, 6, 2.5)], None)

    assert _jsonl(tmp_path / "placement.jsonl") == placements
    assert _jsonl(tmp_path / "resume-rank-0001.jsonl") == [resume]
    assert not (tmp_path / "resume-rank-0000.jsonl").exists()
    history = _jsonl(tmp_path / "metrics.jsonl")
    assert [(h["step"], h["loss"]) for h in history] == [(5, 2.5), (6, 2.25)]  # rank 0's metrics
    assert all(RECORDS_KEY not in h for h in history)
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tensorboard").iterdir())


def test_the_callback_is_shipped_to_the_controller_before_it_writes(tmp_path):
    """Ray pickles the callback into its controller actor: nothing unpicklable is made before the first report."""
    import ray.cloudpickle

    files = ray.cloudpickle.loads(ray.cloudpickle.dumps(RunFiles(tmp_path)))
    files.after_report(None, [_report(0, 1, 1.0)], None)
    assert _jsonl(tmp_path / "metrics.jsonl")[0]["step"] == 1
    assert without_records(_report(0, 1, 1.0, placement={})) == _report(0, 1, 1.0)

