"""Interchange: oxy's cooked textures written as files other tools read (``oxy export``).

Modules: :mod:`~oxy.interop.texformats` (oxy formats -> DXGI / Vulkan, one table),
:mod:`~oxy.interop.layout` (tightly packed subresources), :mod:`~oxy.interop.dds`,
:mod:`~oxy.interop.ktx2` and :mod:`~oxy.interop.hdr` (the writers),
:mod:`~oxy.interop.pixels` (one subresource as 8-bit or float pixels),
:mod:`~oxy.interop.select` (which textures a selector names, and their file names),
:mod:`~oxy.interop.export` (writing them, confined to the output folder).

Layering: reads through :mod:`oxy.runtime` (sources and decoders) and the build
records (:mod:`oxy.pack.live`); never imports gevent, never starts threads.
"""
