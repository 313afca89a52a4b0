"""GraphiQL served by this server alone: no CDN at run time.

The page (`graphiql_page`) is a small template with no external URL; its scripts and
stylesheets are the vendored, pinned builds in `static/` (see `static/README.md`), served
by `static_route()` under `/graphiql/static/<file>?v=<content hash>` with a year-long
immutable cache. A strict Content-Security-Policy keeps the page to its own origin: no
inline script (the page's settings travel in a `<script type="application/json">` block
that `static/boot.js` reads), no eval, fetches to this origin only, no framing.

In production the page is for admins only (the caller checks); when the admin came with
the `caregraph_token` cookie, the page starts with `Authorization: Bearer <token>` in
GraphiQL's headers editor (the API itself never reads the cookie), and GraphiQL keeps its
state in memory only, so the token is not persisted in the browser's local storage.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import html
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/graphiql/static"
_JS = "text/javascript; charset=utf-8"
_CSS = "text/css; charset=utf-8"
STYLESHEETS = ("graphiql.min.css", "plugin-explorer.css", "page.css")
SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "plugin-explorer.umd.js",
    "boot.js",
)
CONTENT_TYPES = {name: _CSS for name in STYLESHEETS} | {name: _JS for name in SCRIPTS}

# The one <style> element GraphiQL adds itself: react-remove-scroll-bar's, while a dialog
# (settings, short keys) is open. With page.css (no body margin or padding, no page
# scrollbar) its text is always this one, so its hash allows exactly it and no other
# inline style. After a GraphiQL update, a CSP report in the browser's console when a
# dialog opens means this text changed (static/README.md).
DIALOG_SCROLL_LOCK_STYLE = "\n".join(
    [
        "",
        "  .with-scroll-bars-hidden {",
        "   overflow: hidden !important;",
        "   padding-right: 0px !important;",
        "  }",
        "  body {",
        "    overflow: hidden !important;",
        "    overscroll-behavior: contain;",
        "    position: relative !important;",
        "    padding-left: 0px;",
        "    padding-top: 0px;",
        "    padding-right: 0px;",
        "    margin-left:0;",
        "    margin-top:0;",
        "    margin-right: 0px !important;",
        "    ",
        "  }",
        "  ",
        "  .right-scroll-bar-position {",
        "    right: 0px !important;",
        "  }",
        "  ",
        "  .width-before-scroll-bar {",
        "    margin-right: 0px !important;",
        "  }",
        "  ",
        "  .right-scroll-bar-position .right-scroll-bar-position {",
        "    right: 0 !important;",
        "  }",
        "  ",
        "  .width-before-scroll-bar .width-before-scroll-bar {",
        "    margin-right: 0 !important;",
        "  }",
        "  ",
        "  body {",
        "    --removed-body-scroll-bar-size: 0px;",
        "  }",
        "",
    ]
)


def _csp_hash(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return f"'sha256-{digest}'"


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        f"style-src 'self' {_csp_hash(DIALOG_SCROLL_LOCK_STYLE)}",
        # GraphiQL's stylesheet embeds its fonts and a few icons as data: URLs.
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # The page may carry the admin's token: never kept by a cache.
    "Cache-Control": "no-store",
}
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Vary": "Accept-Encoding",
}

_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <title>caregraph · GraphiQL</title>
    <link rel="icon" href="data:,">
{stylesheets}
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script type="application/json" id="graphiql-config">{config}</script>
{scripts}
  </body>
</html>
"""


@dataclass(frozen=True)
class Asset:
    body: bytes
    version: str


@cache
def _asset(name: str) -> Asset:
    body = (STATIC_DIR / name).read_bytes()
    return Asset(body, hashlib.sha256(body).hexdigest()[:16])


@cache
def _gzipped(name: str) -> bytes:
    return gzip.compress(_asset(name).body, compresslevel=6, mtime=0)


def asset_url(name: str, root_path: str = "") -> str:
    return f"{root_path}{STATIC_PATH}/{name}?v={_asset(name).version}"


def json_for_script(value: object) -> str:
    """JSON that is safe inside a `<script>` element: no `<`, `>` or `&` (so no
    `</script>` or `<!--` breakout), and no U+2028/U+2029."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def graphiql_html(*, production: bool, token: str | None = None, root_path: str = "") -> str:
    """The page. `production`: headers are not persisted and GraphiQL's storage is in
    memory; `token`: pre-fills `Authorization: Bearer <token>` in the headers editor."""
    config: dict[str, object] = {"persistHeaders": not production}
    if token:
        config["headers"] = json.dumps({"Authorization": f"Bearer {token}"}, indent=2)
    stylesheets = "\n".join(
        f'    <link rel="stylesheet" href="{html.escape(asset_url(name, root_path))}">'
        for name in STYLESHEETS
    )
    scripts = "\n".join(
        f'    <script src="{html.escape(asset_url(name, root_path))}"></script>' for name in SCRIPTS
    )
    return _PAGE.format(stylesheets=stylesheets, config=json_for_script(config), scripts=scripts)


def graphiql_page(*, production: bool, token: str | None = None, root_path: str = "") -> Response:
    return HTMLResponse(
        graphiql_html(production=production, token=token, root_path=root_path),
        headers=PAGE_HEADERS,
    )


def graphiql_forbidden() -> Response:
    return HTMLResponse(
        "GraphiQL is available to admins only.", status_code=403, headers=PAGE_HEADERS
    )


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether `Accept-Encoding` allows gzip (an explicit `gzip` wins over `*`)."""
    qualities: dict[str, float] = {}
    for part in accept_encoding.split(","):
        coding, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[coding.lower()] = quality
    return qualities.get("gzip", qualities.get("*", 0.0)) > 0


async def static_asset(request: Request) -> Response:
    name = request.path_params["name"]
    content_type = CONTENT_TYPES.get(name)
    if content_type is None:
        return PlainTextResponse(
            "Not found.", status_code=404, headers={"X-Content-Type-Options": "nosniff"}
        )
    headers = dict(ASSET_HEADERS)
    if _accepts_gzip(request.headers.get("accept-encoding", "")):
        body = await asyncio.to_thread(_gzipped, name)
        headers["Content-Encoding"] = "gzip"
    else:
        body = _asset(name).body
    return Response(body, media_type=content_type, headers=headers)


def static_route() -> Route:
    """The route serving the vendored GraphiQL files: `/graphiql/static/<file>`."""
    return Route(f"{STATIC_PATH}/{{name}}", static_asset, methods=["GET", "HEAD"])
