"""Largest first (issue 15, item 1): a free pipeline worker takes the heaviest waiting
texture (most source bytes), so the serial parts of the job's last textures (decode,
mips, packing: not spread over the pool) are those of small ones. The order is
checked with two pipeline workers on a one-thread pool: for embedded sources the
completion order is the order the workers took the items in (the pool runs its
tasks first come, first served); for files, whose reads race on the I/O pool, the
queue's takes are recorded. A one-worker pipeline keeps submission order."""
from __future__ import annotations

import io
import pathlib
import threading
from typing import Any

import numpy as np
import pytest
from PIL import Image

from oxy.cook.texture import settings_for
from oxy.hub import AsyncFileReader, CancelToken, ImportLoop
from oxy.importing import texture_pipeline
from oxy.importing.texture_pipeline import TexturePipeline, TextureSource, TextureWorkItem

T = 120.0
SIZES = (8, 64, 16, 128, 32)  # submission order; random texels, so bytes grow with the size


def png(size: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(size).integers(0, 256, (size, size, 4), dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


def cook_order(items: list[TextureWorkItem], workers: int = 2) -> list[str]:
    with ImportLoop(cpu_threads=1) as loop:
        def scenario() -> list[str]:
            token = CancelToken()
            pipeline = TexturePipeline(reader=AsyncFileReader(token), token=token, workers=workers,
                                       queue_capacity=len(items))
            for item in items:  # all waiting before the worker takes the first
                pipeline.submit(item)
            pipeline.close_input()
            order = []
            while (result := pipeline.collect(timeout=T)) is not None:
                assert result.success, result.diagnostics
                order.append(result.source_id)
            return order
        return loop.call(scenario, timeout=T)


def test_embedded_sources_are_cooked_heaviest_first() -> None:
    blobs = {f"t{size}": png(size) for size in SIZES}
    items = [TextureWorkItem(name, (TextureSource(name, data=data),), settings_for("ui")) for name, data in blobs.items()]
    assert cook_order(items) == sorted(blobs, key=lambda name: -len(blobs[name]))
    assert cook_order(items, workers=1) == list(blobs)  # one worker: submission order


def test_files_are_weighed_by_their_size(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Weighing a file asks the I/O pool, so the two workers take the first two items
    while the others are submitted; the first cook holds the pool thread (an event,
    not a sleep) until every item waits, then the rest are taken heaviest first (a
    missing file weighs 0, so it is taken last)."""
    sizes = {}
    items = []
    for size in SIZES:
        path = tmp_path / f"t{size}.png"
        path.write_bytes(png(size))
        sizes[path.name] = path.stat().st_size
        items.append(TextureWorkItem(path.name, (TextureSource(path.name, path=str(path)),), settings_for("ui")))
    missing = TextureWorkItem("gone.png", (TextureSource("gone.png", path=str(tmp_path / "gone.png")),),
                              settings_for("ui"))
    released = threading.Event()
    real = texture_pipeline._cook_checked

    def held(*args: Any) -> Any:
        assert released.wait(T), "the producer never finished submitting"
        return real(*args)

    monkeypatch.setattr(texture_pipeline, "_cook_checked", held)
    taken: list[str] = []
    real_take = texture_pipeline._HeaviestFirst.take

    def take(queue: Any) -> TextureWorkItem | None:
        item = real_take(queue)
        if item is not None:
            taken.append(item.source_id)
        return item

    monkeypatch.setattr(texture_pipeline._HeaviestFirst, "take", take)
    with ImportLoop(cpu_threads=1) as loop:
        def scenario() -> list[tuple[str, bool]]:
            token = CancelToken()
            pipeline = TexturePipeline(reader=AsyncFileReader(token), token=token, workers=2, queue_capacity=8)
            for item in [*items, missing]:
                pipeline.submit(item)
            pipeline.close_input()
            released.set()
            out = []
            while (result := pipeline.collect(timeout=T)) is not None:
                out.append((result.source_id, result.success))
            return out
        got = loop.call(scenario, timeout=T)
    rest = sorted(list(sizes)[2:], key=lambda n: -sizes[n])
    # the order the workers took the items in (completion order would race: the
    # reads of items taken back to back run side by side on the I/O pool)
    assert taken == ["t8.png", "t64.png", *rest, "gone.png"]
    assert sorted(name for name, ok in got if ok) == sorted(sizes)
    assert ("gone.png", False) in got  # taken last; its read fails without the pool, so it may end first
