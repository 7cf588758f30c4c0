"""Tests of oxy.cook.mips (mip-chain generation) against independent numpy references."""
from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from oxy.cook.colorspace import (
    LINEAR_TO_SRGB_SIZE,
    encode_srgb8,
    linear_to_srgb8_exact,
    linear_to_srgb_table,
    srgb_to_linear,
    srgb_to_linear_table,
)
from oxy.cook.mips import mip_chain, mip_count, mip_sizes

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


# ---------------------------------------------------------------- references


def _box_matrix(n: int) -> np.ndarray:
    """(m, n) box weights for n -> max(1, n >> 1): 2-tap even, 3-tap polyphase odd."""
    m = max(1, n >> 1)
    mat = np.zeros((m, n))
    if n == 1:
        mat[0, 0] = 1.0
    elif n % 2 == 0:
        for x in range(m):
            mat[x, 2 * x : 2 * x + 2] = 0.5
    else:
        for x in range(m):
            mat[x, 2 * x : 2 * x + 3] = np.array([m - x, m, x + 1]) / n
    return mat


def _ref_step(colour: np.ndarray, alpha: np.ndarray, weighted: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One alpha-weighted box level in float64 from straight (colour, alpha)."""
    wy, wx = _box_matrix(alpha.shape[0]), _box_matrix(alpha.shape[1])
    filt = lambda plane: wy @ plane @ wx.T  # noqa: E731
    a = filt(alpha)
    plain = np.stack([filt(colour[..., c]) for c in range(3)], axis=-1)
    if not weighted:
        return plain, a
    pre = np.stack([filt(colour[..., c] * alpha) for c in range(3)], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(a[..., None] > 0, pre / a[..., None], plain)
    return out, a


def _ref_chain_u8(image: np.ndarray, srgb: bool) -> list[np.ndarray]:
    """The whole box chain in float64 with exact sRGB formulas (no lookup tables)."""
    colour = srgb_to_linear(image[..., :3] / 255.0) if srgb else image[..., :3] / 255.0
    alpha = image[..., 3] / 255.0
    levels = [image]
    while colour.shape[0] > 1 or colour.shape[1] > 1:
        colour, alpha = _ref_step(colour, alpha)
        rgb = linear_to_srgb8_exact(colour) if srgb else np.floor(colour * 255 + 0.5)
        levels.append(np.dstack([rgb, np.floor(alpha * 255 + 0.5)]).astype(np.uint8))
    return levels


def _coverage(level: np.ndarray, cutoff: float) -> float:
    return float(np.mean(level[..., 3] / 255.0 >= cutoff))


def _rng_image(h: int, w: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
    img[rng.random((h, w)) < 0.2, 3] = 0  # fully transparent texels
    img[: h // 4, : w // 4, 3] = 0  # a fully transparent region
    return img


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("w", "h"), [(2048, 2048), (211, 211), (249, 250), (1, 1), (1, 7), (7, 1), (5, 3)]
)
def test_level_count_and_sizes(w: int, h: int) -> None:
    levels = mip_chain(np.zeros((h, w, 4), np.uint8))
    expected = int(np.floor(np.log2(max(w, h)))) + 1
    assert len(levels) == expected == mip_count(w, h)
    for i, level in enumerate(levels):
        assert level.shape == (max(1, h >> i), max(1, w >> i), 4)
        assert level.dtype == np.uint8
    assert [lv.shape[1::-1] for lv in levels] == mip_sizes(w, h)
    assert levels[-1].shape[:2] == (1, 1)


# ---------------------------------------------------------------- box vs reference


@pytest.mark.parametrize("srgb", [True, False])
@pytest.mark.parametrize("shape", [(64, 64), (32, 128), (211, 211), (249, 250), (5, 3), (1, 7)])
def test_box_matches_numpy_reference(shape: tuple[int, int], srgb: bool) -> None:
    image = _rng_image(*shape)
    got = mip_chain(image, srgb=srgb)
    ref = _ref_chain_u8(image, srgb)
    assert len(got) == len(ref)
    assert got[0] is image
    for level, (g, r) in enumerate(zip(got, ref)):
        diff = np.abs(g.astype(int) - r.astype(int))
        assert diff.max() <= 1, f"level {level}: max diff {diff.max()}"


def test_level_zero_is_input_and_input_untouched() -> None:
    image = _rng_image(16, 16)
    before = image.copy()
    levels = mip_chain(image, alpha_coverage=0.5)
    assert levels[0] is image
    np.testing.assert_array_equal(image, before)


# ---------------------------------------------------------------- sRGB


def test_srgb_checker_averages_in_linear_light() -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    grey = np.where((xx + yy) % 2 == 0, 255, 0).astype(np.uint8)
    image = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    for level in mip_chain(image)[1:]:
        assert np.all(np.abs(level[..., :3].astype(int) - 188) <= 1)
        assert np.all(level[..., 3] == 255)
    naive = mip_chain(image, srgb=False)[1]
    assert np.all(np.abs(naive[..., :3].astype(int) - 128) <= 1)


def test_srgb_tables_match_exact_formulas() -> None:
    to_linear = srgb_to_linear_table()
    assert to_linear.shape == (256,) and to_linear.dtype == np.float32
    np.testing.assert_allclose(to_linear, srgb_to_linear(np.arange(256) / 255.0), rtol=1e-6, atol=1e-9)
    table = linear_to_srgb_table()
    assert table.shape == (LINEAR_TO_SRGB_SIZE,) and table.dtype == np.uint8
    assert not table.flags.writeable
    samples = np.concatenate([np.linspace(0.0, 1.0, 2_000_003), np.geomspace(1e-7, 0.01, 100_000)])
    diff = np.abs(encode_srgb8(samples).astype(int) - linear_to_srgb8_exact(samples).astype(int))
    assert diff.max() <= 1
    assert diff.mean() < 0.01
    codes = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(encode_srgb8(to_linear[codes]), codes)  # exact round trip


# ---------------------------------------------------------------- alpha


@pytest.mark.parametrize("srgb", [True, False])
@pytest.mark.parametrize("filter", ["box", "kaiser"])
def test_alpha_weighted_edge_keeps_colour(srgb: bool, filter: str) -> None:
    image = np.zeros((1, 2, 4), np.uint8)
    image[0, 0] = (255, 0, 0, 255)  # opaque red next to transparent black
    level = mip_chain(image, srgb=srgb, filter=filter)[1]
    assert tuple(level[0, 0, :3]) == (255, 0, 0)
    assert abs(int(level[0, 0, 3]) - 128) <= 1


def test_transparent_footprint_falls_back_to_unweighted_average() -> None:
    image = np.zeros((2, 2, 4), np.uint8)
    image[..., 1] = 200  # green everywhere, alpha 0 everywhere
    image[0, 0, 2] = 255
    level = mip_chain(image, srgb=False)[1]
    assert tuple(level[0, 0]) == (0, 200, 64, 0)


def test_alpha_is_filtered_linearly_not_srgb() -> None:
    image = np.zeros((2, 2, 4), np.uint8)
    image[..., :3] = 255
    image[0, :, 3] = 255
    assert mip_chain(image, srgb=True)[1][0, 0, 3] == 128


def _net_png() -> np.ndarray:
    with Image.open(CORPUS / "images" / "net.png") as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGBA")))


@pytest.mark.parametrize("filter", ["box", "kaiser"])
def test_alpha_coverage_preserved_on_net_png(filter: str) -> None:
    image = _net_png()
    assert image.shape == (128, 128, 4)
    cutoff = 0.5
    target = _coverage(image, cutoff)
    kept = mip_chain(image, alpha_coverage=cutoff, filter=filter)
    plain = mip_chain(image, filter=filter)
    err_kept = err_plain = 0.0
    for level_kept, level_plain in zip(kept[1:], plain[1:]):
        texels = level_kept.shape[0] * level_kept.shape[1]
        e_kept = abs(_coverage(level_kept, cutoff) - target)
        assert e_kept <= 0.5 / texels + 1e-9  # within one texel of level 0's fraction
        np.testing.assert_array_equal(level_kept[..., :3], level_plain[..., :3])
        if texels >= 16:
            err_kept += e_kept
            err_plain += abs(_coverage(level_plain, cutoff) - target)
    assert err_kept < 0.1 * err_plain


def test_alpha_coverage_scales_smoothly_varying_alpha() -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    image = np.zeros((64, 64, 4), np.uint8)
    image[..., 3] = np.clip(255 - np.hypot(xx - 31.5, yy - 31.5) * 8, 0, 255).astype(np.uint8)
    image[::3, ::5, 3] = 0  # holes that thin the mips out
    target = _coverage(image, 0.7)
    for level in mip_chain(image, alpha_coverage=0.7, srgb=False)[1:5]:
        assert abs(_coverage(level, 0.7) - target) <= 0.5 / level[..., 3].size + 1e-9


@pytest.mark.parametrize("filter", ["box", "kaiser"])
def test_alpha_coverage_float32(filter: str) -> None:
    image = _net_png().astype(np.float32) / np.float32(255.0)
    target = float(np.mean(image[..., 3] >= 0.5))
    for level in mip_chain(image, alpha_coverage=0.5, filter=filter)[1:]:
        assert abs(float(np.mean(level[..., 3] >= 0.5)) - target) <= 0.5 / level[..., 3].size + 1e-9
        assert 0.0 <= level[..., 3].min() and level[..., 3].max() <= 1.0


# ---------------------------------------------------------------- normal maps


def _encode_normals(n: np.ndarray) -> np.ndarray:
    return np.clip(np.floor((n + 1.0) * 127.5 + 0.5), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("filter", ["box", "kaiser"])
def test_normal_map_levels_are_unit_length(filter: str) -> None:
    rng = np.random.default_rng(7)
    n = rng.normal(size=(61, 64, 3))
    n[..., 2] = np.abs(n[..., 2]) + 0.3
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    alpha = rng.integers(0, 256, size=(61, 64, 1), dtype=np.uint8)
    image = np.ascontiguousarray(np.dstack([_encode_normals(n), alpha]))
    for level in mip_chain(image, normal_map=True, filter=filter)[1:]:
        decoded = level[..., :3] / 127.5 - 1.0
        length = np.linalg.norm(decoded, axis=-1)
        assert np.all(np.abs(length - 1.0) < 0.012)


def test_normal_map_averages_vectors_and_ignores_alpha_weighting() -> None:
    s = np.sqrt(0.5)
    image = _encode_normals(np.array([[[s, 0, s], [-s, 0, s]]]))
    image = np.ascontiguousarray(np.dstack([image, np.array([[[255], [0]]], np.uint8)]))
    level = mip_chain(image, normal_map=True, srgb=True)[1]
    assert tuple(level[0, 0, :3]) == (128, 128, 255)  # (0, 0, 1), not the +x normal
    assert level[0, 0, 3] == 128


def test_float32_normal_map_is_renormalised() -> None:
    rng = np.random.default_rng(9)
    image = np.ones((33, 48, 4), np.float32)
    n = rng.normal(size=(33, 48, 3)).astype(np.float32)
    n[..., 2] = np.abs(n[..., 2]) + 0.3
    image[..., :3] = n / np.linalg.norm(n, axis=-1, keepdims=True)
    for level in mip_chain(image, normal_map=True)[1:]:
        np.testing.assert_allclose(np.linalg.norm(level[..., :3], axis=-1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(level[..., 3], 1.0)


def test_kernel_rejects_mismatched_outputs() -> None:
    from oxy._kernels import mips as kernel

    image = np.zeros((8, 8, 4), np.uint8)
    bad = [image, np.empty((4, 4, 4), np.uint8), np.empty((2, 2, 4), np.uint8), np.empty((2, 2, 4), np.uint8)]
    with pytest.raises(ValueError, match="levels"):
        kernel.build_chain(image, bad, kernel.BOX, kernel.ENCODE_SRGB8, True,
                           srgb_to_linear_table(), linear_to_srgb_table())


# ---------------------------------------------------------------- odd sizes, HDR


@pytest.mark.parametrize("filter", ["box", "kaiser"])
@pytest.mark.parametrize("shape", [(211, 211), (249, 250), (5, 3), (1, 7), (7, 1), (3, 3), (255, 129)])
def test_constant_image_stays_constant(shape: tuple[int, int], filter: str) -> None:
    image = np.empty(shape + (4,), np.uint8)
    image[...] = (200, 37, 90, 255)
    for level in mip_chain(image, filter=filter):
        assert np.all(level == np.array([200, 37, 90, 255], np.uint8))
    semi = image.copy()
    semi[..., 3] = 77
    for level in mip_chain(semi, filter=filter, srgb=False):
        assert np.all(level == np.array([200, 37, 90, 77], np.uint8))


@pytest.mark.parametrize("shape", [(211, 211), (249, 250), (5, 3), (1, 7), (255, 129)])
def test_odd_reductions_preserve_mean(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    image = rng.random(shape + (4,), dtype=np.float32)
    image[..., 3] = 1.0
    mean0 = image[..., :3].astype(np.float64).mean(axis=(0, 1))
    for level in mip_chain(image):
        np.testing.assert_allclose(level[..., :3].mean(axis=(0, 1)), mean0, rtol=2e-5)
    image8 = rng.integers(0, 256, size=shape + (4,), dtype=np.uint8)
    image8[..., 3] = 255
    mean8 = image8[..., :3].mean(axis=(0, 1))
    for level in mip_chain(image8, srgb=False):
        assert np.all(np.abs(level[..., :3].mean(axis=(0, 1)) - mean8) <= 0.5 + 1e-9)


@pytest.mark.parametrize("shape", [(128, 128), (97, 130)])
def test_float32_hdr_mean_preserved_without_clipping(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(5)
    image = np.ones(shape + (4,), np.float32)
    image[..., :3] = rng.exponential(40.0, size=shape + (3,)).clip(0, 1000)
    image[10, 10, :3] = 1000.0
    mean0 = image[..., :3].astype(np.float64).mean(axis=(0, 1))
    levels = mip_chain(image, srgb=True)  # srgb is ignored for float input
    assert all(lv.dtype == np.float32 for lv in levels)
    for level in levels:
        np.testing.assert_allclose(level[..., :3].mean(axis=(0, 1)), mean0, rtol=1e-4)
        np.testing.assert_allclose(level[..., 3], 1.0, rtol=1e-6)
    assert levels[1].max() > 250.0  # the 1000 spike survives (averaged), nothing clipped to 1
    kaiser = mip_chain(image, filter="kaiser")
    for level in kaiser[1:]:
        np.testing.assert_allclose(level[..., :3].mean(axis=(0, 1)), mean0, rtol=0.05)
    assert kaiser[1].max() > 100.0


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("image", "word"),
    [
        ([[[0, 0, 0, 0]]], "ndarray"),
        (np.zeros((4, 4, 4), np.uint16), "dtype"),
        (np.zeros((4, 4, 4), np.float64), "dtype"),
        (np.zeros((4, 4, 4), ">f4"), "dtype"),
        (np.zeros((4, 4), np.uint8), "ndim"),
        (np.zeros((4, 4, 4, 1), np.uint8), "ndim"),
        (np.zeros((4, 4, 3), np.uint8), "channels"),
        (np.zeros((0, 4, 4), np.uint8), "empty"),
        (np.zeros((4, 0, 4), np.float32), "empty"),
        (np.zeros((4, 8, 4), np.uint8)[:, ::2], "contiguous"),
        (np.asfortranarray(np.zeros((4, 4, 4), np.uint8)), "contiguous"),
    ],
)
def test_bad_image_raises_value_error(image: object, word: str) -> None:
    with pytest.raises(ValueError, match="image") as info:
        mip_chain(image)  # type: ignore[arg-type]
    assert word in str(info.value)


@pytest.mark.parametrize("name", ["lanczos", "Box", "", None, 3])
def test_unknown_filter_raises_value_error(name: object) -> None:
    with pytest.raises(ValueError, match="filter"):
        mip_chain(np.zeros((4, 4, 4), np.uint8), filter=name)  # type: ignore[arg-type]


@pytest.mark.parametrize("cutoff", [0.0, 1.0, -0.5, 2.0, float("nan"), "0.5", True])
def test_bad_alpha_coverage_raises_value_error(cutoff: object) -> None:
    with pytest.raises(ValueError, match="alpha_coverage"):
        mip_chain(np.zeros((4, 4, 4), np.uint8), alpha_coverage=cutoff)  # type: ignore[arg-type]


def test_read_only_input_is_accepted() -> None:
    image = _rng_image(8, 8)
    image.flags.writeable = False
    assert len(mip_chain(image, alpha_coverage=0.3)) == 4


# ---------------------------------------------------------------- determinism, memory


def test_deterministic_across_runs_and_threads() -> None:
    image = _rng_image(300, 257, seed=11)
    kinds = [dict(filter="box"), dict(filter="kaiser"), dict(normal_map=True)]
    expected = [mip_chain(image, **kw) for kw in kinds]  # type: ignore[arg-type]
    again = [mip_chain(image, **kw) for kw in kinds]  # type: ignore[arg-type]
    results: dict[int, list[list[np.ndarray]]] = {}

    def work(slot: int) -> None:
        results[slot] = [mip_chain(image, **kw) for kw in kinds for _ in range(3)]  # type: ignore[arg-type]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for runs in [again] + [results[0][i::3] for i in range(3)] + [results[1][i::3] for i in range(3)]:
        for exp, got in zip(expected, runs):
            for a, b in zip(exp, got):
                np.testing.assert_array_equal(a, b)


def test_kernel_releases_the_gil() -> None:
    """A Python thread makes progress while a chain runs (no timing assertion: with a
    long switch interval it could not run at all if the kernel held the GIL)."""
    import sys

    image = _rng_image(512, 1024)
    done = threading.Event()
    count = [0]

    def spin() -> None:
        while not done.is_set():
            count[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.5)
    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        before = count[0]
        mip_chain(image, filter="kaiser")
        during = count[0] - before
    finally:
        done.set()
        spinner.join()
        sys.setswitchinterval(old)
    assert during > 0


@pytest.mark.parametrize(("shape", "filter"), [((1024, 1024), "box"), ((1023, 1025), "box"), ((1024, 1000), "kaiser")])
def test_extra_memory_is_bounded_rows_not_levels(shape: tuple[int, int], filter: str) -> None:
    image = _rng_image(*shape)
    mip_chain(image, filter=filter)  # warm the cached tables
    tracemalloc.start()
    try:
        levels = mip_chain(image, filter=filter)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    outputs = sum(lv.nbytes for lv in levels[1:])
    # A float32 copy of level 0 would be 16 MB, of level 1 4 MB; rows cost < 1 MB.
    assert peak - outputs < 1_000_000


# ---------------------------------------------------------------- filter quality


def _zone_plate(n: int) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n] + 0.5 - n / 2
    r = np.hypot(xx, yy)
    k = 0.5 * np.pi / (n / 2 * np.sqrt(2))  # local frequency k*r/pi reaches 0.5 at corners
    grey = np.floor((0.5 + 0.5 * np.cos(k * r * r)) * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(np.dstack([grey, grey, grey, np.full_like(grey, 255)]))


def test_kaiser_aliases_less_than_box_on_zone_plate() -> None:
    n = 256
    image = _zone_plate(n)
    k = 0.5 * np.pi / (n / 2 * np.sqrt(2))
    yy, xx = np.mgrid[0 : n // 2, 0 : n // 2] * 2 + 1.0 - n / 2
    freq = k * np.hypot(xx, yy) / np.pi  # source cycles/texel at each level-1 texel
    stop = freq > 0.35  # beyond level 1's Nyquist (0.25): should come out flat grey
    passband = freq < 0.15  # well below it: should be kept

    def residue(filter: str) -> tuple[float, float]:
        level = mip_chain(image, srgb=False, filter=filter)[1][..., 0].astype(np.float64)
        ideal = 127.5 + 127.5 * np.cos(k * (xx * xx + yy * yy))  # analytic, at level-1 centres
        alias = float(np.sqrt(np.mean((level[stop] - 127.5) ** 2)))
        keep = float(np.sqrt(np.mean((level[passband] - ideal[passband]) ** 2)))
        return alias, keep

    alias_box, keep_box = residue("box")
    alias_kaiser, keep_kaiser = residue("kaiser")
    assert alias_kaiser < 0.5 * alias_box  # measured: 12.3 vs 36.7 (RMS, 8-bit units)
    assert keep_kaiser < 0.5 * keep_box  # and sharper: 0.9 vs 5.6


# ---------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    w=st.integers(1, 40),
    h=st.integers(1, 40),
    filter=st.sampled_from(["box", "kaiser"]),
    value=st.integers(0, 255),
)
def test_any_size_constant_in_constant_out(w: int, h: int, filter: str, value: int) -> None:
    image = np.full((h, w, 4), value, np.uint8)
    levels = mip_chain(image, filter=filter)
    assert [lv.shape[1::-1] for lv in levels] == mip_sizes(w, h)
    for level in levels:
        assert np.all(level == value)


@settings(max_examples=40, deadline=None)
@given(
    w=st.integers(1, 48),
    h=st.integers(1, 48),
    cutoff=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**16),
    filter=st.sampled_from(["box", "kaiser"]),
)
def test_any_size_alpha_coverage_within_one_texel(w: int, h: int, cutoff: float, seed: int, filter: str) -> None:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
    if seed % 2:
        image[..., 3] = rng.choice(np.array([0, 30, 200, 255], np.uint8), size=(h, w))
    target = _coverage(image, cutoff)
    for level in mip_chain(image, alpha_coverage=cutoff, filter=filter)[1:]:
        assert abs(_coverage(level, cutoff) - target) <= 0.5 / level[..., 3].size + 1e-9
    as_float = image.astype(np.float32) / np.float32(255.0)
    target_f = float(np.mean(as_float[..., 3] >= np.float32(cutoff)))
    for level in mip_chain(as_float, alpha_coverage=cutoff, filter=filter)[1:]:
        got = float(np.mean(level[..., 3] >= np.float32(cutoff)))
        assert abs(got - target_f) <= 0.5 / level[..., 3].size + 1e-9
