"""Who may talk to a daemon started with ``--token``: the bearer header, and the
status page's cookie.

API clients send ``Authorization: Bearer TOKEN``. A browser page and its
``EventSource`` cannot send that header, so ``GET /?token=TOKEN`` (checked like the
header) answers with a redirect to ``/`` that sets a session cookie:

- its value is an HMAC-SHA256 of a fixed label keyed by the token (the token itself
  is never stored in the browser), compared in constant time;
- ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page sends
  it), ``Path=/``; named after the port (``oxy_serve_PORT``), so daemons on other
  ports of the same host neither overwrite nor receive each other's cookie (cookies
  ignore ports, but each daemon's value differs with its token anyway);
- it authorises only ``GET`` and ``HEAD``: the page only reads. Cooking, cancelling
  and compacting still need the header, so a page on another port of the same host
  (the same *site* to a browser) cannot make the daemon do anything with it.

Pure functions; safe from any thread.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs

_LABEL = b"oxy serve status page session v1"
#: Methods the cookie authorises (the page never writes).
COOKIE_METHODS = ("GET", "HEAD")


class Unauthorized(Exception):
    """The request carries no valid credential (message for the 401 answer)."""


def cookie_name(environ: dict[str, Any]) -> str:
    return f"oxy_serve_{environ.get('SERVER_PORT', '0')}"


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), _LABEL, hashlib.sha256).hexdigest()


def query_token(environ: dict[str, Any]) -> str | None:
    """The ``token`` query parameter of ``GET /`` (None elsewhere or when absent)."""
    if environ.get("PATH_INFO") != "/" or environ.get("REQUEST_METHOD", "GET") != "GET":
        return None
    values = parse_qs(environ.get("QUERY_STRING", "")).get("token")
    return values[0] if values else None


def authorise(environ: dict[str, Any], token: str | None) -> str:
    """How the request is authorised: ``"open"`` (no token configured), ``"header"``,
    ``"cookie"`` or ``"query"`` (``GET /?token=``: the page then sets the cookie).
    Raises :class:`Unauthorized`."""
    if not token:
        return "open"
    given = environ.get("HTTP_AUTHORIZATION", "")
    if given and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return "header"
    from_query = query_token(environ)
    if from_query is not None:
        if hmac.compare_digest(from_query.encode(), token.encode()):
            return "query"
        raise Unauthorized("the token in the address is wrong")
    session = _cookie(environ)
    if session is not None and environ.get("REQUEST_METHOD", "GET") in COOKIE_METHODS \
            and hmac.compare_digest(session.encode(), cookie_value(token).encode()):
        return "cookie"
    if environ.get("PATH_INFO") == "/":
        raise Unauthorized("this daemon needs a token: open /?token=TOKEN once (it sets a session cookie)")
    raise Unauthorized("this daemon needs 'Authorization: Bearer <token>'")


def set_cookie_header(environ: dict[str, Any], token: str) -> tuple[str, str]:
    return ("Set-Cookie", f"{cookie_name(environ)}={cookie_value(token)}; Path=/; HttpOnly; SameSite=Strict")


def _cookie(environ: dict[str, Any]) -> str | None:
    """The session cookie's value. Parsed by hand: ``http.cookies`` stops at the first
    cookie it dislikes, and other pages on this host may have set any."""
    name = cookie_name(environ)
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip()
    return None
