"""The import hub: a gevent hub on its own thread, the one CPU pool, the I/O pool, async file I/O."""
