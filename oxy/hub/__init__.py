"""The import hub: a gevent hub on its own thread, the one CPU pool, the I/O pool, async file I/O.

Public surface (see each module's docstring for its thread rules):

* :class:`ImportLoop` (``loop``): the hub thread; ``post``/``spawn``/``submit`` from any thread.
* :func:`run_blocking` (``pools``): the one crossing from greenlets to the CPU pool.
* :class:`AsyncFileReader`, :class:`FileResult`, :class:`FileError` (``files``) and
  :class:`AsyncFileWriter`, :class:`WriteOptions` (``writer``): file I/O on the I/O pool.
* :class:`Channel`, :class:`Nursery`, :class:`CancelToken`: structured concurrency.
* :class:`CrossFuture` (``future``): a result that any thread or hub can wait on.
* :func:`allocate_lock` (``_native``): a real OS lock, even after ``monkey.patch_all()``
  (for state shared between the import hub and other threads).

``oxy.hub`` may import gevent; ``oxy.formats`` and ``oxy.cook`` never do.
"""
from __future__ import annotations

from oxy.hub._native import allocate_lock
from oxy.hub.cancel import CancelToken
from oxy.hub.channel import Channel, ChannelClosed
from oxy.hub.files import AsyncFileReader, FileError, FileInfo, FileResult
from oxy.hub.future import CrossFuture, FutureTimeout
from oxy.hub.loop import ImportLoop, LoopClosed, current_loop
from oxy.hub.nursery import Nursery
from oxy.hub.pools import NotOnImportHub, run_blocking
from oxy.hub.writer import AsyncFileWriter, WriteOptions

__all__ = [
    "AsyncFileReader",
    "AsyncFileWriter",
    "CancelToken",
    "Channel",
    "ChannelClosed",
    "CrossFuture",
    "FileError",
    "FileInfo",
    "FileResult",
    "FutureTimeout",
    "ImportLoop",
    "LoopClosed",
    "NotOnImportHub",
    "Nursery",
    "WriteOptions",
    "allocate_lock",
    "current_loop",
    "run_blocking",
]
