"""The status page's script, style sheet and icon, served as-is from ``/ui/`` (no
build step, no external request; plain ES2017 for any current browser).

The script mirrors :mod:`oxy.daemon.status_view` (same selections, same limits: the
page passes them in ``<body data-limits>``) and builds every node with
``textContent``/``setAttribute``, never ``innerHTML``: job sources and diagnostics are
untrusted text. It never writes to the console, so a console error in the browser
is always a real fault (the tests check for none).

Data flow: ``EventSource('/api/events')``; on each (re)connection it fetches
``/api/jobs`` and ``/api/status`` and merges them with what events already said (a
job never moves back from finished to running, or from running to queued); job
events replace their job; ``progress`` events update the running job; after job
events ``/api/status`` is fetched again (debounced) for the queue depth, watched
files and cache counters.
"""
from __future__ import annotations

SCRIPT = r"""'use strict';
(function () {
  const LIMITS = JSON.parse(document.body.dataset.limits || '{}');
  const KEEP = 200;
  const RANK = {queued: 0, running: 1, committed: 2, failed: 2, cancelled: 2};
  const TERMINAL = ['committed', 'failed', 'cancelled'];
  const jobs = new Map();
  let status = null;
  let statusTimer = null;

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
    }
    return node;
  }

  function basename(path) {
    const trimmed = path.replace(/\/+$/, '');
    return trimmed.slice(trimmed.lastIndexOf('/') + 1) || path;
  }

  function sourcesText(job) {
    const sources = job.sources || [];
    const n = LIMITS.sources;
    const text = sources.slice(0, n).map(basename).join(', ');
    return sources.length > n ? text + ' (+' + (sources.length - n) + ' more)' : text;
  }

  function title(job) { return '#' + job.id + ' ' + job.kind + ' \u00b7 ' + job.trigger; }

  function secondsText(job) { return job.seconds === null || job.seconds === undefined ? '' : job.seconds.toFixed(2) + ' s'; }

  function cacheRate(cache) {
    if (!cache) return 'off';
    const hits = (cache.hits_local || 0) + (cache.hits_remote || 0);
    const lookups = hits + (cache.misses || 0);
    if (!lookups) return 'no lookups yet';
    return Math.round(100 * hits / lookups) + '% (' + hits + ' of ' + lookups + ' lookups)';
  }

  function jobAttrs(job, cls) { return {class: cls, 'data-job': job.id, 'data-state': job.state}; }

  function byIdDesc(a, b) { return b.id - a.id; }

  function finished() { return [...jobs.values()].filter(j => TERMINAL.includes(j.state)).sort(byIdDesc); }

  // -- sections -------------------------------------------------------------------------
  function renderSummary() {
    if (!status) return;
    $('queue-depth').textContent = String(status.queue_depth);
    $('watched-files').textContent = String(status.watched_files);
    $('cache-rate').textContent = cacheRate(status.cache);
    $('job-outcomes').textContent = TERMINAL.map(k => (status.jobs[k] || 0) + ' ' + k).join(', ');
  }

  function renderRunning() {
    const box = $('running-job');
    const job = [...jobs.values()].find(j => j.state === 'running');
    if (!job) { box.replaceChildren(el('p', {class: 'empty'}, 'Nothing running.')); return; }
    const progress = job.progress || 0;
    box.replaceChildren(el('div', jobAttrs(job, 'job'),
      el('p', {}, el('strong', {}, title(job)), ' ', el('span', {class: 'phase'}, job.phase), ' ',
         el('span', {class: 'pct'}, Math.round(progress * 100) + '%')),
      el('progress', {max: 1, value: progress.toFixed(4)}),
      el('p', {class: 'sources'}, sourcesText(job))));
  }

  function renderQueue() {
    const queued = [...jobs.values()].filter(j => j.state === 'queued').sort((a, b) => a.id - b.id);
    $('queue-list').replaceChildren(...queued.map(job => el('li', jobAttrs(job, 'job'),
      el('strong', {}, title(job)), ' ', el('span', {class: 'sources'}, sourcesText(job)))));
  }

  function renderThumbs() {
    const items = [];
    const seen = new Set();
    for (const job of finished()) {
      if (job.kind === 'compact' && job.state === 'committed') break;  // it renumbered the textures
      for (const t of job.textures || []) {
        if (seen.has(t.index) || items.length >= LIMITS.thumbs) continue;
        seen.add(t.index);
        items.push(Object.assign({job: job.id}, t));
      }
    }
    const list = $('thumb-list');
    const key = items.map(t => t.index + '@' + t.job).join(',');
    if (list.dataset.key === key) return;  // unchanged: keep the loaded images
    list.dataset.key = key;
    list.replaceChildren(...items.map(t => el('figure', {class: 'thumb', 'data-index': t.index, 'data-job': t.job},
      el('img', {src: '/ui/thumb/' + t.index + '.png', alt: basename(t.source), title: t.name}),
      el('figcaption', {}, basename(t.source)))));
  }

  function renderFailures() {
    const failed = finished().filter(j => j.state === 'failed').slice(0, LIMITS.failures);
    $('failure-list').replaceChildren(...failed.map(job => {
      const diags = job.diagnostics || [];
      const ordered = diags.filter(d => d.severity === 'error').concat(diags.filter(d => d.severity !== 'error'));
      const shown = ordered.slice(0, LIMITS.diagnostics);
      const items = shown.map(d => el('li', {class: 'diag', 'data-code': d.code, 'data-severity': d.severity},
        el('code', {class: 'code'}, d.code), ' ', el('span', {class: 'message'}, d.message), ' ',
        el('span', {class: 'path'}, d.source_path)));
      if (ordered.length > shown.length) items.push(el('li', {class: 'more'}, 'and ' + (ordered.length - shown.length) + ' more'));
      return el('div', {class: 'failure', 'data-job': job.id},
        el('p', {}, el('strong', {}, title(job)), ' ', el('span', {class: 'sources'}, sourcesText(job))),
        el('ul', {class: 'diags'}, ...items));
    }));
  }

  function renderRecent() {
    $('recent-jobs').replaceChildren(...finished().slice(0, LIMITS.recent).map(job => el('tr', jobAttrs(job, 'job'),
      el('td', {}, '#' + job.id), el('td', {}, job.kind), el('td', {}, job.trigger),
      el('td', {class: 'state'}, job.state), el('td', {}, secondsText(job)),
      el('td', {class: 'sources'}, sourcesText(job)))));
  }

  function renderJobs() { renderRunning(); renderQueue(); renderThumbs(); renderFailures(); renderRecent(); }

  // -- state ----------------------------------------------------------------------------
  function newer(a, b) {  // is job object a at least as new as b?
    const ra = RANK[a.state] || 0, rb = RANK[b.state] || 0;
    return ra !== rb ? ra > rb : (a.progress || 0) >= (b.progress || 0);
  }

  function trim() {
    const done = finished();
    for (const job of done.slice(KEEP)) jobs.delete(job.id);
  }

  function setConn(state, text) {
    const conn = $('conn');
    conn.dataset.conn = state;
    conn.textContent = text;
  }

  async function getJson(path) {
    const resp = await fetch(path, {cache: 'no-store', credentials: 'same-origin'});
    if (!resp.ok) throw new Error(path + ': HTTP ' + resp.status);
    return resp.json();
  }

  async function refreshStatus() {
    statusTimer = null;
    try {
      status = await getJson('/api/status');
      renderSummary();
    } catch (err) {
      setConn('error', 'cannot read the status: ' + err.message);
    }
  }

  function scheduleStatus() { if (statusTimer === null) statusTimer = setTimeout(refreshStatus, 200); }

  async function snapshot() {
    try {
      const [doc, st] = await Promise.all([getJson('/api/jobs'), getJson('/api/status')]);
      for (const job of doc.jobs) {
        const known = jobs.get(job.id);
        if (!known || newer(job, known)) jobs.set(job.id, job);
      }
      status = st;
      trim();
      renderSummary();
      renderJobs();
    } catch (err) {
      setConn('error', 'cannot read the jobs: ' + err.message);
    }
  }

  function onJob(event) {
    const job = JSON.parse(event.data);
    delete job.job;
    jobs.set(job.id, job);
    trim();
    renderJobs();
    scheduleStatus();
  }

  function onProgress(event) {
    const data = JSON.parse(event.data);
    const job = jobs.get(data.job);
    if (!job || job.state !== 'running') return;
    job.phase = data.phase;
    job.progress = data.progress;
    renderRunning();
  }

  const events = new EventSource('/api/events');
  for (const name of ['queued', 'started', 'committed', 'failed', 'cancelled']) events.addEventListener(name, onJob);
  events.addEventListener('progress', onProgress);
  events.addEventListener('open', () => { setConn('live', 'live'); snapshot(); });
  events.addEventListener('error', () => {
    if (events.readyState === EventSource.CLOSED) setConn('closed', 'disconnected (reload the page)');
    else setConn('reconnecting', 'reconnecting\u2026');
  });
})();
"""

STYLE = """:root { color-scheme: light dark; font-family: system-ui, sans-serif; font-size: 15px; }
body { margin: 1.5rem auto; max-width: 70rem; padding: 0 1rem; }
h1 { margin: 0; font-size: 1.5rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 0.5rem; border-bottom: 1px solid #8884; }
code { font-size: 0.9em; }
.where { margin: 0.25rem 0; color: #888; }
#conn { margin: 0.25rem 0; font-size: 0.85rem; }
#conn[data-conn="live"] { color: #2a8a3a; }
#conn[data-conn="reconnecting"], #conn[data-conn="closed"], #conn[data-conn="error"] { color: #c0392b; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; }
progress { width: 100%; height: 0.9rem; }
.empty { color: #888; }
.sources { color: #666; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.2rem 0.5rem; border-bottom: 1px solid #8882; vertical-align: top; }
tr[data-state="failed"] .state { color: #c0392b; font-weight: 600; }
tr[data-state="cancelled"] .state { color: #b9770e; }
tr[data-state="committed"] .state { color: #2a8a3a; }
.failure { border-left: 3px solid #c0392b; padding: 0.1rem 0.75rem; margin: 0.5rem 0; }
.failure p { margin: 0.2rem 0; }
.diags { margin: 0.2rem 0; padding-left: 1.2rem; }
.diag { overflow-wrap: anywhere; }
.diag .code { font-weight: 600; }
.diag[data-severity="warning"] .code { color: #b9770e; }
.diag .path { color: #666; }
#thumb-list { display: flex; flex-wrap: wrap; gap: 0.75rem; }
.thumb { margin: 0; width: 128px; text-align: center; font-size: 0.8rem; }
.thumb img { max-width: 128px; max-height: 128px; image-rendering: pixelated; background: #8883; }
.thumb figcaption { overflow-wrap: anywhere; }
"""

FAVICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">\
<circle cx="8" cy="8" r="6" fill="none" stroke="#2a8a3a" stroke-width="3"/></svg>
"""
