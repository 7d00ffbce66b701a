"""Photographic degradations: lighting gradients, colour casts, blur, sensor noise and JPEG artefacts."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class Degradation:
    gain: float  # overall exposure
    gradient: tuple[float, float, float]  # linear light falloff: dx, dy per frame, plus vignette strength
    cast: tuple[float, float, float]  # per-channel BGR multipliers
    blur_sigma: float
    motion_px: int  # 0 for none
    motion_angle: float
    noise_sigma: float
    jpeg_quality: int
    seed: int


# Phone photos shared in chat or sent over a store's Wi-Fi: a share heavily compressed, noisy, shaken.
HARSH_SHARE = 0.2
HARSH_JPEG = (15, 40)
HARSH_NOISE = (8.0, 16.0)
_HARSH_STREAM = 0x4A125

NO_DEGRADATION = Degradation(1.0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 0.0, 0, 0.0, 0.0, 95, 0)


def random_degradation(rng: np.random.Generator) -> Degradation:
    warm_cool = float(rng.uniform(-0.12, 0.12))
    params = Degradation(
        gain=float(rng.uniform(0.7, 1.25)),
        gradient=(
            float(rng.uniform(-0.35, 0.35)),
            float(rng.uniform(-0.35, 0.35)),
            float(rng.uniform(0, 0.45)),
        ),
        cast=(
            1 - warm_cool + float(rng.uniform(-0.05, 0.05)),
            1 + float(rng.uniform(-0.06, 0.06)),
            1 + warm_cool + float(rng.uniform(-0.05, 0.05)),
        ),
        blur_sigma=float(rng.choice([0.0, 0.0, rng.uniform(0.4, 1.6)])),
        motion_px=int(rng.choice([0, 0, 0, 0, int(rng.integers(3, 9))])),
        motion_angle=float(rng.uniform(0, 180)),
        noise_sigma=float(rng.uniform(0.5, 9.0)),
        jpeg_quality=int(rng.integers(35, 96)),
        seed=int(rng.integers(2**31)),
    )
    harsh = np.random.default_rng([params.seed, _HARSH_STREAM])  # its own stream: other draws stay put
    if harsh.uniform() >= HARSH_SHARE:
        return params
    return replace(
        params,
        jpeg_quality=int(harsh.integers(HARSH_JPEG[0], HARSH_JPEG[1] + 1)),
        noise_sigma=float(harsh.uniform(*HARSH_NOISE)),
        motion_px=max(params.motion_px, int(harsh.choice([0, 3, 4, 5]))),
    )


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    line = np.zeros((length, length), np.float32)
    line[length // 2, :] = 1.0
    rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
    kernel: np.ndarray = cv2.warpAffine(line, rotation, (length, length))
    return kernel / max(float(kernel.sum()), 1e-6)


def degrade(image: np.ndarray, params: Degradation) -> np.ndarray:
    """Apply light, colour, blur and noise; the geometry is untouched, so labels stay exact."""
    height, width = image.shape[:2]
    out: np.ndarray = image.astype(np.float32)
    if params.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), params.blur_sigma)
    if params.motion_px > 1:
        out = cv2.filter2D(out, -1, _motion_kernel(params.motion_px, params.motion_angle))
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
    ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None]
    dx, dy, vignette = params.gradient
    light = params.gain * (1 + dx * xs + dy * ys) * (1 - vignette * (xs * xs + ys * ys) * 2)
    out *= light[:, :, None]
    out *= np.array(params.cast, np.float32)
    if params.noise_sigma > 0:
        # OpenCV's generator is three times faster than numpy's here; seeding it keeps images reproducible.
        cv2.setRNGSeed(params.seed)
        # Mostly luminance noise, as a sensor gives after demosaicing, plus a little chroma noise.
        luma = np.empty((height, width), np.float32)
        cv2.randn(luma, np.zeros(1), np.full(1, params.noise_sigma))
        chroma = np.empty((height, width, 3), np.float32)
        chroma_sigma = params.noise_sigma * 0.4
        cv2.randn(chroma, np.zeros(3), np.full(3, chroma_sigma))
        out += luma[:, :, None]
        out += chroma
    np.clip(out, 0, 255, out=out)
    return np.asarray(out, np.uint8)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return bytes(buffer.tobytes())
