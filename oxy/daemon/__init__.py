"""``oxy serve``: the cook daemon (watcher, job queue, HTTP/JSON API, live events, metrics).

Modules: :mod:`config` (settings, checks, structured logs), :mod:`plan` (which
import requests a set of changed paths becomes), :mod:`watcher` (the watcher
thread, debounced batches handed to the main hub), :mod:`jobs` (the job table and
the one-at-a-time scheduler onto the import service), :mod:`events` (Server-Sent
Events fan-out), :mod:`metrics` (Prometheus), :mod:`api` (WSGI routing and
handlers) and :mod:`server` (wiring, locks, signals, lifecycle).

Threads: the *main thread* runs a gevent hub with the WSGI server, the job table
and the event hub (all daemon state belongs to it; no locks). The import service
runs on its own hub thread and hands its callbacks to the main hub through a
:class:`~oxy.hub.delivery.HubExecutor`. The watcher thread only posts batches to
the main hub the same way. See docs/daemon.md.
"""
