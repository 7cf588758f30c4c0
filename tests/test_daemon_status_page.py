"""The status page of ``oxy serve``, in a real headless Chromium (Debian's ``chromium``
and ``chromium-driver``, driven by selenium) against a real daemon process started with
``--token``: the page authorises through its cookie, follows a job the test triggers
from queued/running to committed, shows the cooked texture's thumbnail (decoded by
oxy, checked pixel by pixel), shows a malformed file's diagnostic as text, and logs no
console error. Without chromium these tests fail: ``tools/bootstrap.sh`` installs it."""
from __future__ import annotations

import io
import os
import pathlib
import shutil
import tempfile
from html.parser import HTMLParser
from typing import Any, Iterator

import numpy as np
import pytest
from PIL import Image

from conftest import CORPUS
from daemon_proc import Daemon, wait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1200,900")
TOKEN = "status-page-s3cret"
#: A file name that is markup: the page must show it as text.
HOSTILE = "<img src=x onerror=alert(1)>&amp;.png"


def _gradient(path: pathlib.Path, width: int = 256, height: int = 128, blue: int = 96) -> np.ndarray:
    """A smooth RGBA image (BC7 keeps it close), written atomically as the watcher would see a save."""
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[..., 0] = np.linspace(0, 255, width)[None, :]
    pixels[..., 1] = np.linspace(0, 255, height)[:, None]
    pixels[..., 2] = blue
    pixels[..., 3] = 255
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(pixels).save(tmp, format="PNG")
    os.replace(tmp, path)
    return pixels


class Console:
    """Every browser console entry of the session (chromedriver hands each out once)."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.entries: list[dict[str, Any]] = []

    def collect(self) -> list[dict[str, Any]]:
        self.entries += self.driver.get_log("browser")
        return self.entries

    def severe(self) -> list[dict[str, Any]]:
        return [e for e in self.collect() if e["level"] == "SEVERE"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, pathlib.Path]]:
    tmp = tmp_path_factory.mktemp("status_page")
    src, root = tmp / "src", tmp / "root"
    src.mkdir()
    _gradient(src / "first.png")
    daemon = Daemon(tmp, root, [src], token=TOKEN)
    try:
        daemon.started()
        daemon.wait_idle(0)
        yield daemon, src
    finally:
        daemon.kill()


@pytest.fixture(scope="module")
def browser(served: tuple[Daemon, pathlib.Path]) -> Iterator[tuple[Any, Console]]:
    """A headless Chromium holding the page's session cookie (from ``/?token=``)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    assert not missing, f"{missing} missing: apt-get install chromium chromium-driver (tools/bootstrap.sh does)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="oxy-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        daemon, _src = served
        driver.get(f"http://127.0.0.1:{daemon.port}/?token={TOKEN}")
        yield driver, Console(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _cookie_header(driver: Any, daemon: Daemon) -> dict[str, str]:
    cookie = driver.get_cookie(f"oxy_serve_{daemon.port}")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    return {"Cookie": f"{cookie['name']}={cookie['value']}"}


def _live(driver: Any) -> None:
    wait(lambda: driver.execute_script("return document.getElementById('conn').dataset.conn") == "live",
         10, "the page's event stream")


#: Records every state (and phase) any job element of the page shows, as it happens.
_OBSERVE = """
window.__seen = [];
const record = () => document.querySelectorAll('.job[data-job]').forEach(e => {
  const phase = e.querySelector('.phase');
  window.__seen.push([Number(e.dataset.job), e.dataset.state, phase ? phase.textContent : '']);
});
new MutationObserver(record).observe(document.body, {subtree: true, childList: true, attributes: true});
"""


def test_the_page_needs_the_token_then_its_cookie(served: tuple[Daemon, pathlib.Path]) -> None:
    daemon, src = served
    status, doc = daemon.request("GET", "/", token=None)
    assert status == 401 and doc["error"]["code"] == "unauthorized" and "?token=" in doc["error"]["message"]
    assert daemon.request("GET", "/?token=wrong", token=None)[0] == 401
    assert daemon.request("GET", "/api/events", token=None)[0] == 401
    status, _body, headers = daemon.fetch("GET", f"/?token={TOKEN}", token=None)
    assert status == 303 and headers["Location"] == "/"
    name, _eq, rest = headers["Set-Cookie"].partition("=")
    value = rest.split(";")[0]
    assert name == f"oxy_serve_{daemon.port}" and value and TOKEN not in value
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= {p.strip() for p in rest.split(";")[1:]}
    cookie = {"Cookie": f"{name}={value}"}
    status, body, headers = daemon.fetch("GET", "/", token=None, headers=cookie)
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"<!doctype html>" in body
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assert daemon.request("GET", "/api/status", token=None, headers=cookie)[0] == 200
    # The cookie only reads: cooking still needs the header (another page on this host is the same site).
    status, doc = daemon.request("POST", "/api/cook", {"paths": [str(src / "first.png")]}, token=None,
                                 headers=cookie)
    assert status == 401, doc
    assert daemon.request("GET", "/api/status", token=None, headers={"Cookie": f"{name}={'0' * 64}"})[0] == 401
    other_port = {"Cookie": f"oxy_serve_{daemon.port + 1}={value}"}
    assert daemon.request("GET", "/api/status", token=None, headers=other_port)[0] == 401
    assert daemon.request("GET", "/")[0] == 200  # the bearer header works for the page too


def test_the_page_follows_a_job_and_shows_its_thumbnail(served: tuple[Daemon, pathlib.Path],
                                                        browser: tuple[Any, Console]) -> None:
    daemon, src = served
    driver, console = browser
    assert driver.current_url == f"http://127.0.0.1:{daemon.port}/"  # the token left the address
    _live(driver)
    driver.execute_script(_OBSERVE)
    last = daemon.last_id()
    pixels = _gradient(src / "grad.png", blue=160)
    job = wait(lambda: next((j for j in daemon.jobs() if j["id"] > last and str(src / "grad.png") in j["sources"]),
                            None), 15, "the job for grad.png")
    row = f'#recent-jobs .job[data-job="{job["id"]}"]'
    wait(lambda: driver.execute_script(f"const r = document.querySelector('{row}'); return r && r.dataset.state")
         == "committed", 20, "the committed job in the page")
    seen = driver.execute_script("return window.__seen")
    states = [s for j, s, _p in seen if j == job["id"]]
    assert "running" in states and states.index("running") < states.index("committed"), seen
    assert [p for j, s, p in seen if j == job["id"] and s == "running" and p not in ("", "planning")], seen
    # Its thumbnail: loaded by the browser, decoded by oxy, close to the source.
    img = f'#thumb-list figure[data-job="{job["id"]}"] img'
    size = wait(lambda: driver.execute_script(
        f"const i = document.querySelector('{img}'); return i && i.complete && i.naturalWidth > 0"
        " && [i.naturalWidth, i.naturalHeight, i.getAttribute('src')]"), 10, "the thumbnail to load")
    assert size[:2] == [128, 64], size
    status, body, headers = daemon.fetch("GET", size[2], token=None, headers=_cookie_header(driver, daemon))
    assert status == 200 and headers["Content-Type"] == "image/png"
    thumb = Image.open(io.BytesIO(body))
    assert thumb.format == "PNG" and thumb.size == (128, 64)
    expected = np.asarray(Image.fromarray(pixels).resize((128, 64), Image.Resampling.BOX), np.float32)
    error = np.abs(np.asarray(thumb.convert("RGBA"), np.float32) - expected).mean()
    assert error < 4.0, error
    # The summary agrees with /api/status once the page has read it again.
    status_doc = daemon.get("/api/status")
    cache = status_doc["cache"]
    hits = cache["hits_local"] + cache["hits_remote"]
    rate = f"{round(100 * hits / (hits + cache['misses']))}% ({hits} of {hits + cache['misses']} lookups)"
    wait(lambda: driver.execute_script("return document.getElementById('cache-rate').textContent") == rate,
         5, f"the cache hit rate {rate!r}")
    assert driver.execute_script("return document.getElementById('watched-files').textContent") \
        == str(status_doc["watched_files"])
    assert console.severe() == []


def test_a_malformed_file_shows_as_a_failure_with_its_diagnostic(served: tuple[Daemon, pathlib.Path],
                                                                 browser: tuple[Any, Console]) -> None:
    daemon, src = served
    driver, console = browser
    _live(driver)
    last = daemon.last_id()
    shutil.copy(CORPUS / "malformed" / "badadler.png", src / HOSTILE)
    jobs = daemon.wait_idle(last)
    failed = [j for j in jobs if j["state"] == "failed"]
    assert failed, jobs
    diag = next(d for d in failed[0]["diagnostics"] if d["severity"] == "error")
    assert diag["source_path"] == str(src / HOSTILE)
    shown = f'#failure-list .failure[data-job="{failed[0]["id"]}"] .diag'
    item = wait(lambda: driver.execute_script(
        f"const d = document.querySelector('{shown}'); return d && [d.dataset.code,"
        " d.querySelector('.message').textContent, d.querySelector('.path').textContent]"), 10,
        "the failure in the page")
    assert item == [diag["code"], diag["message"], diag["source_path"]], item
    assert driver.execute_script("return document.querySelectorAll('#failure-list img, #recent-jobs img').length") == 0
    # The server-rendered page escapes it too (as text in the diagnostic's path).
    status, body, _headers = daemon.fetch("GET", "/")
    page = _Page()
    page.feed(body.decode())
    assert status == 200 and page.images and all(src.startswith("/ui/thumb/") for src in page.images), page.images
    assert diag["source_path"] in page.texts and diag["message"] in page.texts
    driver.refresh()  # a fresh load of the server-rendered page, then the script takes over
    _live(driver)
    assert driver.execute_script(f"return document.querySelectorAll('{shown}').length") >= 1
    assert console.severe() == []


def test_thumbnail_routes_cache_by_content(served: tuple[Daemon, pathlib.Path]) -> None:
    daemon, src = served
    for bad in ("/ui/thumb/abc.png", "/ui/thumb/-1.png", "/ui/thumb/1.jpg", "/ui/thumb/..%2F..%2Fetc%2Fpasswd",
                "/ui/thumb/999999.png", "/ui/nothing"):
        status, doc = daemon.request("GET", bad)
        assert status == 404 and set(doc["error"]) == {"code", "message"}, (bad, status, doc)
    assert daemon.request("POST", "/ui/thumb/1.png")[0] == 405
    index = _texture_index(daemon, src / "first.png")
    status, first, headers = daemon.fetch("GET", f"/ui/thumb/{index}.png")
    assert status == 200 and Image.open(io.BytesIO(first)).size == (128, 64)
    etag = headers["ETag"]
    status, again, headers = daemon.fetch("GET", f"/ui/thumb/{index}.png")
    assert status == 200 and headers["X-Oxy-Thumb-Cache"] == "hit" and again == first
    assert daemon.fetch("GET", f"/ui/thumb/{index}.png", headers={"If-None-Match": etag})[0] == 304
    # A re-cook with new content is a new texture, with a new thumbnail.
    last = daemon.last_id()
    _gradient(src / "first.png", 64, 64)
    daemon.wait_idle(last)
    recooked = _texture_index(daemon, src / "first.png")
    status, body, headers = daemon.fetch("GET", f"/ui/thumb/{recooked}.png")
    assert recooked != index and status == 200 and headers["ETag"] != etag
    assert Image.open(io.BytesIO(body)).size == (64, 64)
    # A compaction renumbers the table: the same content keeps its cached thumbnail.
    status, job = daemon.request("POST", "/api/compact")
    assert status == 202 and daemon.wait_job(job["id"])["state"] == "committed"
    moved = _texture_index(daemon, src / "first.png")
    status, after, moved_headers = daemon.fetch("GET", f"/ui/thumb/{moved}.png")
    assert status == 200 and after == body and moved_headers["ETag"] == headers["ETag"]
    assert moved_headers["X-Oxy-Thumb-Cache"] == "hit"


def test_the_console_check_sees_a_page_error(served: tuple[Daemon, pathlib.Path],
                                            browser: tuple[Any, Console]) -> None:
    """The no-console-error checks above can fail: an error thrown in the page is seen."""
    driver, _console = browser
    console = Console(driver)
    driver.execute_script("setTimeout(function () { window.oxyNoSuchFunction(); }, 0)")
    found = wait(lambda: [e for e in console.severe() if "oxyNoSuchFunction" in e["message"]], 5, "the error")
    assert found


def _texture_index(daemon: Daemon, source: pathlib.Path) -> int:
    record = daemon.assets()[str(source)]
    return next(o["index"] for o in record["outputs"] if o["kind"] == "texture")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

