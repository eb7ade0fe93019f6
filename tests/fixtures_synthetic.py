"""A small generated raw-media folder (images of all classes, a few videos, corrupt files), made once per session."""

from __future__ import annotations

import pytest

from mmssl.data.synthetic import GeneratedMedia, generate_media

# Small on purpose (about a second to generate): every class, every image format, videos with and
# without audio, every corrupt kind (five corrupt files: the kinds cycle, so one kind appears twice).
SMALL_MEDIA = dict(
    num_images=96,
    num_videos=6,
    num_classes=8,
    num_corrupt=5,
    seed=0,
    video_seconds=(1.0, 1.5),
    image_long_side_px=(96, 160),
    video_sizes=((160, 120), (192, 144)),
)


@pytest.fixture(scope="session")
def synthetic_media(tmp_path_factory) -> GeneratedMedia:
    """The generated folder; read-only for tests (copy it before changing anything)."""
    return generate_media(tmp_path_factory.mktemp("synthetic_media") / "raw", **SMALL_MEDIA)
