"""Image normalization: every input kind becomes an upright, bounded, baseline 4:2:0 RGB JPEG."""

import io

import numpy as np
import pytest
from PIL import Image

from fixtures_ingest import encode_image, jpeg_with_orientation, quadrant_pixels
from mmssl.data.normalize_image import ImageConfig, normalize_image
from mmssl.data.rejection import Rejection

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def jpeg_frame_info(data: bytes) -> tuple[int, list[tuple[int, int, int]]]:
    """(SOF marker, [(component id, h sampling, v sampling)]) read from the JPEG's own header."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    pos = 2
    while pos < len(data):
        assert data[pos] == 0xFF
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            count = data[pos + 9]
            comps = [(data[pos + 10 + 3 * i], data[pos + 11 + 3 * i] >> 4, data[pos + 11 + 3 * i] & 15) for i in range(count)]
            return marker, comps
        pos += 2 + length
    raise AssertionError("no SOF marker")


def decoded(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.mode == "RGB"
    return np.asarray(image).astype(int)


def assert_fast_path_jpeg(data: bytes) -> None:
    marker, comps = jpeg_frame_info(data)
    assert marker == 0xC0, f"SOF{marker - 0xC0}: not baseline"
    assert [c[1:] for c in comps] == [(2, 2), (1, 1), (1, 1)], f"not 4:2:0 YCbCr: {comps}"


def colour_at(pixels: np.ndarray, y_frac: float, x_frac: float) -> np.ndarray:
    return pixels[int(y_frac * pixels.shape[0]), int(x_frac * pixels.shape[1])]


def assert_colour(actual, expected, tolerance: int = 40) -> None:
    assert np.abs(np.asarray(actual) - np.asarray(expected)).max() <= tolerance, f"{actual} != {expected}"


def test_progressive_444_input_becomes_baseline_420():
    source = encode_image(quadrant_pixels(), "JPEG", progressive=True, subsampling=0, quality=95)
    assert jpeg_frame_info(source)[0] == 0xC2  # the input really is progressive
    out = normalize_image(source)
    assert_fast_path_jpeg(out.jpeg)
    pixels = decoded(out.jpeg)
    assert (out.width, out.height) == (64, 48) == (pixels.shape[1], pixels.shape[0])
    assert_colour(colour_at(pixels, 0.2, 0.2), RED)
    assert_colour(colour_at(pixels, 0.8, 0.8), BLUE)


@pytest.mark.parametrize(
    "orientation, rotate_k",
    [(3, 2), (6, -1), (8, 1)],  # EXIF 3: 180 deg; 6: display rotated 90 clockwise; 8: 90 counter-clockwise
)
def test_exif_orientation_is_applied(orientation, rotate_k):
    pixels = quadrant_pixels()
    out = normalize_image(jpeg_with_orientation(pixels, orientation))
    upright = np.rot90(pixels, rotate_k)
    result = decoded(out.jpeg)
    assert result.shape == upright.shape
    assert np.abs(result - upright).mean() < 8
    assert "exif" not in Image.open(io.BytesIO(out.jpeg)).info  # no orientation left to apply twice


def cmyk_jpeg() -> bytes:
    return encode_image(Image.fromarray(quadrant_pixels()).convert("CMYK"), "JPEG", quality=95)


def rgba_png() -> bytes:
    rgba = np.dstack([quadrant_pixels(), np.full((48, 64), 255, np.uint8)])
    rgba[:, 32:, 3] = 0  # right half fully transparent -> background white
    return encode_image(rgba, "PNG")


def palette_png_with_transparency() -> bytes:
    image = Image.fromarray(quadrant_pixels()).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    blue_index = image.getpixel((63, 47))
    return encode_image(image, "PNG", transparency=blue_index)


def grey16_png() -> bytes:
    pixels = np.zeros((48, 64), np.uint16)
    pixels[:, :32] = 65535
    pixels[:, 32:] = 32768
    return encode_image(Image.fromarray(pixels), "PNG")


# name -> (encoded input, expected colour at top-left, at bottom-right)
CONVERSIONS = {
    "cmyk_jpeg": (cmyk_jpeg, RED, BLUE),
    "grey_jpeg": (lambda: encode_image(Image.fromarray(quadrant_pixels()).convert("L"), "JPEG"), (76, 76, 76), (29, 29, 29)),
    "grey16_png": (grey16_png, WHITE, (128, 128, 128)),
    "rgba_png": (rgba_png, RED, WHITE),
    "palette_png_transparent": (palette_png_with_transparency, RED, WHITE),
    "palette_gif": (lambda: encode_image(Image.fromarray(quadrant_pixels()).convert("P"), "GIF"), RED, BLUE),
    "rgb_png": (lambda: encode_image(quadrant_pixels(), "PNG"), RED, BLUE),
    "webp": (lambda: encode_image(quadrant_pixels(), "WEBP", lossless=True), RED, BLUE),
    "bmp": (lambda: encode_image(quadrant_pixels(), "BMP"), RED, BLUE),
    "tiff": (lambda: encode_image(quadrant_pixels(), "TIFF"), RED, BLUE),
    "la_png": (lambda: encode_image(Image.fromarray(quadrant_pixels()).convert("LA"), "PNG"), (76, 76, 76), (29, 29, 29)),
}


@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_every_mode_and_format_becomes_rgb_jpeg(name):
    make, top_left, bottom_right = CONVERSIONS[name]
    out = normalize_image(make())
    assert_fast_path_jpeg(out.jpeg)
    pixels = decoded(out.jpeg)
    assert (out.width, out.height) == (64, 48)
    assert_colour(colour_at(pixels, 0.2, 0.2), top_left)
    assert_colour(colour_at(pixels, 0.8, 0.8), bottom_right)


def test_long_side_is_bounded_and_aspect_kept():
    wide = np.kron(quadrant_pixels(8, 2), np.ones((150, 150, 1), np.uint8))  # 1200 x 300
    out = normalize_image(encode_image(wide, "PNG"), ImageConfig(max_side_px=500))
    assert (out.width, out.height) == (500, 125)
    assert_colour(colour_at(decoded(out.jpeg), 0.25, 0.2), RED)


def test_small_image_is_not_upscaled():
    out = normalize_image(encode_image(quadrant_pixels(20, 10), "PNG"))
    assert (out.width, out.height) == (20, 10)


def test_huge_jpeg_is_decoded_downscaled_not_refused():
    big = np.kron(quadrant_pixels(2, 2), np.ones((1000, 1000, 1), np.uint8))  # 2000 x 2000 = 4 MP
    config = ImageConfig(max_side_px=250, max_pixels=100_000)
    out = normalize_image(encode_image(big, "JPEG", quality=80), config)
    assert (out.width, out.height) == (250, 250)
    assert_colour(colour_at(decoded(out.jpeg), 0.2, 0.2), RED)


def test_decompression_bomb_is_a_rejection():
    with pytest.raises(Rejection, match="decompression bomb") as refusal:
        normalize_image(encode_image(np.zeros((400, 400, 3), np.uint8), "PNG"), ImageConfig(max_side_px=250, max_pixels=100_000))
    assert refusal.value.stage == "decode"


@pytest.mark.parametrize("keep_fraction", [0.5, 0.8])
def test_truncated_jpeg_is_a_rejection(keep_fraction):
    data = encode_image(quadrant_pixels(), "JPEG", quality=95)
    with pytest.raises(Rejection, match="^decode: truncated JPEG$"):
        normalize_image(data[: int(len(data) * keep_fraction)])


def test_non_image_is_a_rejection():
    with pytest.raises(Rejection, match="not a readable image"):
        normalize_image(b"hello, this is text")


def test_config_is_validated():
    with pytest.raises(ValueError, match="jpeg_quality"):
        ImageConfig(jpeg_quality=0)
    with pytest.raises(ValueError, match="max_pixels"):
        ImageConfig(max_side_px=1000, max_pixels=10)
