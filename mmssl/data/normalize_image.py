"""Any still image to the loaders' fast path: baseline 4:2:0 RGB JPEG, bounded long side, upright.

nvJPEG's hardware decoder takes only baseline JPEG, and DALI's CPU decode of YFCC-medium images is
cheap, so every image is re-encoded once here rather than slowly at every epoch.
"""

from __future__ import annotations

import io
import warnings
from struct import error as struct_error
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps

from mmssl.data.media_kind import SNIFF_BYTES, sniff_media_kind
from mmssl.data.rejection import Rejection

_JPEG_SUBSAMPLING_420 = 2  # Pillow's code for 4:2:0


@dataclass(frozen=True)
class ImageConfig:
    """How images are normalized. `max_pixels` bounds decoded size (decompression bombs)."""

    max_side_px: int = 500
    jpeg_quality: int = 90
    max_pixels: int = 89_478_485  # Pillow's own default bound; JPEGs above it are decoded downscaled
    max_file_bytes: int = 256 << 20  # an image file larger than this is refused before it is read
    background_rgb: tuple[int, int, int] = (255, 255, 255)  # what transparent pixels become

    def __post_init__(self):
        if self.max_side_px < 16:
            raise ValueError(f"ImageConfig.max_side_px must be >= 16, got {self.max_side_px}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"ImageConfig.jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if self.max_file_bytes < 1 << 10:
            raise ValueError(f"ImageConfig.max_file_bytes must be at least 1 KiB, got {self.max_file_bytes}")
        if self.max_pixels < self.max_side_px**2:
            raise ValueError(f"ImageConfig.max_pixels ({self.max_pixels}) must be >= max_side_px**2")


@dataclass(frozen=True)
class NormalizedImage:
    jpeg: bytes
    width: int
    height: int


def normalize_image(data: bytes, config: ImageConfig = ImageConfig()) -> NormalizedImage:
    """Re-encode `data` (any Pillow-readable image); raises Rejection for a broken or absurd one."""
    if len(data) > config.max_file_bytes:
        raise Rejection("read", f"absurd image file size: {len(data)} bytes (bound {config.max_file_bytes})")
    image = _open_bounded(data, config)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as err:  # Pillow's ways of saying "broken"
        raise Rejection("decode", _describe_decode_error(image.format, err)) from None
    image = _upright(image)
    rgb = _to_rgb(image, config.background_rgb)
    rgb = _bound_long_side(rgb, config.max_side_px)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=config.jpeg_quality, subsampling=_JPEG_SUBSAMPLING_420, progressive=False)
    return NormalizedImage(out.getvalue(), rgb.width, rgb.height)


def _open_bounded(data: bytes, config: ImageConfig) -> Image.Image:
    """Open lazily, refusing images whose pixel count could exhaust memory (JPEGs get DCT-downscaled)."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is a rejection, never grey padding
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        bound, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # we check the size ourselves below
        try:
            image = Image.open(io.BytesIO(data))
        except Image.UnidentifiedImageError:
            raise Rejection("decode", "not a readable image (Pillow cannot identify it)") from None
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise Rejection("decode", _describe_decode_error(_container_name(data), err)) from None
        finally:
            Image.MAX_IMAGE_PIXELS = bound
    width, height = image.size
    if width < 1 or height < 1:
        raise Rejection("decode", f"image has no pixels ({width}x{height})")
    if image.format in ("JPEG", "MPO"):  # decode at 1/2, 1/4 or 1/8 scale when that still covers the target
        scale = max(width, height) / config.max_side_px
        if scale >= 2:
            image.draft(None, (max(1, int(width / scale)), max(1, int(height / scale))))
    if image.width * image.height > config.max_pixels:
        raise Rejection(
            "decode",
            f"decompression bomb: {width}x{height} = {width * height} pixels exceeds the bound "
            f"{config.max_pixels} (raise --max-image-pixels to accept it)",
        )
    return image


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; unreadable EXIF leaves the pixels as stored (they are still valid)."""
    try:
        return ImageOps.exif_transpose(image)
    except (SyntaxError, ValueError, TypeError, KeyError, OSError, struct_error):
        return image


def _container_name(data: bytes) -> str | None:
    try:
        return sniff_media_kind(data[:SNIFF_BYTES])[1].upper()
    except Rejection:
        return None


def _describe_decode_error(image_format: str | None, err: Exception) -> str:
    text = str(err)
    if "truncated" in text.lower() or isinstance(err, EOFError):
        return f"truncated {image_format or 'image'}"
    return f"corrupt {image_format or 'image'}: {text}"


def _to_rgb(image: Image.Image, background_rgb: tuple[int, int, int]) -> Image.Image:
    """8-bit RGB from any mode: 16-bit/float rescaled, alpha composited, CMYK/palette/grey converted."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or pixels.max() > 255 else 255.0
        grey = np.clip(np.round(pixels * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode in ("L", "1") and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, background_rgb)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image if image.mode == "RGB" else image.convert("RGB")


def _bound_long_side(image: Image.Image, max_side_px: int) -> Image.Image:
    long_side = max(image.size)
    if long_side <= max_side_px:
        return image
    scale = max_side_px / long_side
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
