"""--local preparation: each input runs in a child process under the time limit, so a hanging input is
refused alone and the inputs after it are prepared."""

import os

from fixtures_ingest import encode_image, quadrant_pixels, yfcc_line
from mmssl.data.manifest import read_manifest, read_rejected
from mmssl.data.normalize_image import ImageConfig
from mmssl.data.normalize_video import VideoConfig
from mmssl.data.prepare import PrepareConfig, prepare
from mmssl.data.prepare_local import GuardedItems
from mmssl.data.sources import InputItem, YfccSource


def test_a_hanging_input_is_refused_alone(tmp_path):
    stuck = tmp_path / "stuck.jpg"
    os.mkfifo(stuck)  # a read that never returns, as a file on a stuck mount
    jpeg = encode_image(quadrant_pixels(), "JPEG")
    guarded = GuardedItems(ImageConfig(), VideoConfig(), time_limit_s=1.5)
    try:
        outcomes = [guarded.outcome(item) for item in
                    (InputItem("a", data=jpeg), InputItem(str(stuck), path=str(stuck)), InputItem("c", data=jpeg),
                     InputItem("d", rejection=("enumerate", "bad row")))]
    finally:
        guarded.close()
    assert [(o.source, o.accepted) for o in outcomes] == [("a", True), (str(stuck), False), ("c", True), ("d", False)]
    assert outcomes[1].stage == "worker" and outcomes[1].reason.startswith("worker timed out after 1.5 s")
    assert outcomes[2].fields["modality"] == "image" and (outcomes[3].stage, outcomes[3].reason) == ("enumerate", "bad row")


def test_local_run_with_a_hanging_file_finishes(tmp_path):
    """YFCC rows naming a good photo, a stuck file, a good photo: the run ends with one timeout refusal."""
    media = tmp_path / "media"
    media.mkdir()
    for name in ("1.jpg", "3.jpg"):
        (media / name).write_bytes(encode_image(quadrant_pixels(), "JPEG"))
    os.mkfifo(media / "2.jpg")
    rows = [yfcc_line(str(photo_id), "jpg", "0", number=photo_id) for photo_id in (1, 2, 3)]
    (tmp_path / "yfcc100m_dataset").write_text("\n".join(rows) + "\n")
    source = YfccSource(str(tmp_path / "yfcc100m_dataset"), str(media))
    prepare(source, PrepareConfig(output_dir=str(tmp_path / "out"), local=True, progress=False, task_timeout_s=1.5))
    assert [row["source"] for row in read_manifest(tmp_path / "out").to_pylist()] == [
        str(media / "1.jpg"), str(media / "3.jpg")]
    (refused,) = read_rejected(tmp_path / "out").to_pylist()
    assert refused["source"] == str(media / "2.jpg") and refused["reason"].startswith("worker timed out after 1.5 s")


def test_a_child_that_cannot_start_reports_why(monkeypatch):
    """A start that fails (a script without the main guard, under the fork server) raises its own
    error, and closing afterwards is a no-op rather than an error about a child that never ran."""
    import mmssl.data.prepare_local as prepare_local

    def refuse(self):
        raise RuntimeError("An attempt has been made to start a new process before bootstrapping")

    monkeypatch.setattr(prepare_local._CONTEXT.Process, "start", refuse)
    guarded = GuardedItems(ImageConfig(), VideoConfig(), time_limit_s=1.5)
    jpeg = encode_image(quadrant_pixels(), "JPEG")
    try:
        guarded.outcome(InputItem("a", data=jpeg))
        raise AssertionError("the failed start was swallowed")
    except RuntimeError as error:
        assert "bootstrapping" in str(error)
    guarded.close()
    guarded.close()
