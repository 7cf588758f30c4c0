"""Packing cooked content into PAK files (loose roots -> one .pak) and comparing contents.

``writer`` lays out a PAK v4 in the engine pack-tool layout; ``content`` reads and
validates a loose root or a PAK into one model; ``compact`` renumbers and copies
only referenced resources (``oxy pack``); ``diff`` compares two contents by
meaning (``oxy diff``). Imports ``oxy.formats``, ``oxy.cook`` and ``oxy.validate``.
"""
