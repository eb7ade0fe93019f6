"""Any video to the loaders' fast path: H.264 yuv420p, constant frame rate, short GOP, bounded size.

Random clip access costs a decode from the previous keyframe, so a keyframe every `gop_frames`
frames keeps clip sampling cheap; rotation is applied once here so loaders never look at metadata.
DALI cannot decode AAC, so the audio track becomes a separate mono FLAC at one sample rate.

Timing is a property of the output: frame k of the prepared video is shown at k / fps, and sample n
of its audio at n / rate, both counted from the same instant, the input's first shown video frame
(its presentation time, after edit lists). Each output frame is the input frame on screen at that
time (the `fps` filter rounding input times up: a frame counts from its own timestamp on), so
variable-frame-rate input becomes constant rate without shifting content. The audio is placed on
that timeline by its own timestamps (audio_track.py): a late start is padded with silence, an early
start cut, whatever stream offsets, edit lists, AAC priming or B-frame delay the input carries.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from fractions import Fraction

import av

from mmssl.data.audio_track import AudioTrack
from mmssl.data.rejection import Rejection

_ROTATION_FILTERS = {0: [], 90: [("transpose", "cclock")], 180: [("hflip", ""), ("vflip", "")], 270: [("transpose", "clock")]}


@dataclass(frozen=True)
class VideoConfig:
    """How videos are normalized; `fps=None` keeps the source rate (capped at `max_fps`)."""

    max_short_side_px: int = 256
    fps: float | None = None
    max_fps: float = 30.0
    gop_frames: int = 16
    crf: int = 23
    x264_preset: str = "veryfast"
    audio_sample_rate_hz: int = 16_000
    max_duration_s: float = 600.0  # longer videos are cut here (bounded, not refused)
    max_input_pixels: int = 8192 * 8192  # per frame; beyond it the file is refused

    def __post_init__(self):
        for name in ("max_short_side_px", "gop_frames", "audio_sample_rate_hz", "max_input_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"VideoConfig.{name} must be positive, got {getattr(self, name)}")
        if self.max_short_side_px < 16:
            raise ValueError(f"VideoConfig.max_short_side_px must be >= 16, got {self.max_short_side_px}")
        if self.fps is not None and not 0 < self.fps <= 240:
            raise ValueError(f"VideoConfig.fps must be in (0, 240] or None, got {self.fps}")
        if not 0 < self.max_fps <= 240 or self.max_duration_s <= 0:
            raise ValueError(f"VideoConfig: bad max_fps={self.max_fps} or max_duration_s={self.max_duration_s}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"VideoConfig.crf must be in 0..51, got {self.crf}")


@dataclass(frozen=True)
class NormalizedVideo:
    mp4: bytes
    flac: bytes | None  # None when the input has no audio track
    width: int
    height: int
    fps: float
    num_frames: int
    duration_s: float
    audio_sample_rate_hz: int | None


def normalize_video(media: str | os.PathLike | bytes, config: VideoConfig = VideoConfig()) -> NormalizedVideo:
    """Transcode a video file (path or bytes); raises Rejection for a broken or video-less one."""
    with open_media(media, "video container") as container:
        if not container.streams:
            raise Rejection("probe", "unreadable video container: no streams found (truncated or corrupt file)")
        if not container.streams.video:
            raise NoVideoStream("probe", "no video stream")
        video_in = container.streams.video[0]
        declared_pixels = (video_in.codec_context.width or 0) * (video_in.codec_context.height or 0)
        if declared_pixels > config.max_input_pixels:
            raise Rejection("probe", f"absurd frame size {video_in.codec_context.width}x{video_in.codec_context.height} "
                            f"(bound {config.max_input_pixels} pixels)")
        audio_in = container.streams.audio[0] if container.streams.audio else None
        video_in.thread_type = "AUTO"
        video_out = _VideoEncoder(config, _output_rate(video_in, config))
        audio_out = AudioTrack(config.audio_sample_rate_hz, config.max_duration_s) if audio_in is not None else None
        _transcode(container, video_in, audio_in, video_out, audio_out, config)
    if not video_out.started:
        raise Rejection("decode", "no decodable video frames")
    mp4 = video_out.finish()
    if video_out.frames_written == 0:
        raise Rejection("decode", "no decodable video frames (no frame had a timestamp)")
    flac = audio_out.finish() if audio_out is not None else None
    rate = float(video_out.rate)
    return NormalizedVideo(
        mp4=mp4,
        flac=flac,
        width=video_out.width,
        height=video_out.height,
        fps=rate,
        num_frames=video_out.frames_written,
        duration_s=video_out.frames_written / rate,
        audio_sample_rate_hz=config.audio_sample_rate_hz if flac is not None else None,
    )


def open_media(media: str | os.PathLike | bytes, what: str):
    """PyAV's container for a path or bytes; one FFmpeg cannot open is a Rejection naming `what`."""
    try:
        return av.open(io.BytesIO(media) if isinstance(media, bytes) else os.fspath(media), "r")
    except (av.FFmpegError, OSError, ValueError) as err:
        raise Rejection("probe", f"unreadable {what}: {short_error(err)}") from None


class NoVideoStream(Rejection):
    """The container holds no video stream (it may still be an audio-only file: see normalize_audio)."""


def _transcode(container, video_in, audio_in, video_out, audio_out, config: VideoConfig) -> None:
    """One demux pass feeding both encoders; stops reading at the first video frame past `max_duration_s`.

    The first shown video frame sets the origin of both outputs' timelines."""
    streams = [video_in] + ([audio_in] if audio_in is not None else [])
    for packet, frames in decoded_packets(container, streams):
        is_video = packet.stream.index == video_in.index
        for frame in frames:
            if not is_video:
                audio_out.push(frame)
                continue
            if video_out.origin_s is not None and frame.time is not None \
                    and frame.time - video_out.origin_s > config.max_duration_s:
                return
            video_out.push(frame, config)
            if audio_out is not None and audio_out.origin_s is None and video_out.origin_s is not None:
                audio_out.set_origin(video_out.origin_s)


def decoded_packets(container, streams, kind: str = "video"):
    """(packet, frames) pairs; a demux or decode failure is the input's fault, so a Rejection."""
    packets = container.demux(*streams)
    while True:
        try:
            packet = next(packets)
            frames = packet.decode()
        except StopIteration:
            return
        except av.FFmpegError as err:
            raise Rejection("decode", f"corrupt {kind} file data: {short_error(err)}") from None
        yield packet, frames


def _output_rate(video_in, config: VideoConfig) -> Fraction:
    if config.fps is not None:
        return Fraction(config.fps).limit_denominator(1001)
    source = video_in.average_rate or video_in.guessed_rate or video_in.base_rate
    if not source or source <= 0 or source > 1000:
        return Fraction(min(25.0, config.max_fps)).limit_denominator(1001)
    return min(Fraction(source).limit_denominator(1001), Fraction(config.max_fps).limit_denominator(1001))


def _output_size(width: int, height: int, max_short_side_px: int) -> tuple[int, int]:
    """Scale so the short side is at most the bound; even sizes, as yuv420p requires."""
    scale = min(1.0, max_short_side_px / min(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


class _VideoEncoder:
    """Rotation + scale + constant-rate filter graph feeding libx264 into an in-memory mp4."""

    def __init__(self, config: VideoConfig, rate: Fraction):
        self.rate = rate
        self.gop_frames = config.gop_frames
        self.started = False
        self.origin_s: float | None = None  # input presentation time of the first frame: output time 0
        self._origin_pts = 0
        self.frames_written = 0
        self.width = self.height = 0
        self._buffer = io.BytesIO()
        self._container = None
        self._stream = None
        self._graph = None

    def push(self, frame: av.VideoFrame, config: VideoConfig) -> None:
        if not self.started:
            self._start(frame, config)
        if frame.pts is None:  # some containers leave timestamps out: the fps filter needs them
            return
        if self.origin_s is None:
            self.origin_s, self._origin_pts = float(frame.time), frame.pts
        frame.pts -= self._origin_pts  # the first shown frame at output time 0
        self._graph.push(frame)
        self._drain()

    def finish(self) -> bytes:
        self._graph.push(None)
        self._drain()
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._buffer.getvalue()

    def _start(self, frame: av.VideoFrame, config: VideoConfig) -> None:
        if frame.width * frame.height > config.max_input_pixels:
            raise Rejection("probe", f"absurd frame size {frame.width}x{frame.height} (bound {config.max_input_pixels} pixels)")
        rotation = round((frame.rotation or 0) / 90) % 4 * 90
        display_w, display_h = (frame.height, frame.width) if rotation in (90, 270) else (frame.width, frame.height)
        self.width, self.height = _output_size(display_w, display_h, config.max_short_side_px)
        self._graph = self._build_graph(frame, rotation)
        self._container = av.open(self._buffer, "w", format="mp4")
        self._stream = self._container.add_stream("libx264", rate=self.rate)
        self._stream.width, self._stream.height, self._stream.pix_fmt = self.width, self.height, "yuv420p"
        g = self.gop_frames
        self._stream.codec_context.options = {
            "crf": str(config.crf),
            "preset": config.x264_preset,
            "x264-params": f"keyint={g}:min-keyint={g}:scenecut=0",
        }
        self.started = True

    def _build_graph(self, frame: av.VideoFrame, rotation: int):
        graph = av.filter.Graph()
        time_base = frame.time_base or Fraction(1, 90_000)
        nodes = [graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name, time_base=time_base)]
        for name, args in _ROTATION_FILTERS[rotation]:
            nodes.append(graph.add(name, args))
        nodes.append(graph.add("scale", f"{self.width}:{self.height}"))
        # round=up: an input frame is on screen from its timestamp on, so output tick k shows the last
        # input frame whose time is <= k / fps (round=near would show a frame up to half a tick early)
        nodes.append(graph.add("fps", f"fps={self.rate.numerator}/{self.rate.denominator}:round=up"))
        nodes.append(graph.add("format", "yuv420p"))
        nodes.append(graph.add("buffersink"))
        graph.link_nodes(*nodes).configure()
        return graph

    def _drain(self) -> None:
        while True:
            try:
                out = self._graph.pull()
            except (BlockingIOError, av.EOFError):
                return
            out.pts = self.frames_written
            out.time_base = 1 / self.rate
            for packet in self._stream.encode(out):
                self._container.mux(packet)
            self.frames_written += 1


def short_error(err: Exception) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return text.splitlines()[0][:200] if text else type(err).__name__
