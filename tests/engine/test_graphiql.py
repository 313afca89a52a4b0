"""GraphiQL served by the app itself, through the real ASGI app: the page references only
the app's own vendored files, each served with its content type and long cache headers;
a strict CSP; in production admins only, an admin's cookie pre-fills the Authorization
header without persisting it (the bootstrap script runs under Node with stubs), and the
API still ignores the cookie."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from resolvers.core.database import Database
from resolvers.core.settings import Settings
from schema.engine.graphiql import (
    DIALOG_SCROLL_LOCK_STYLE,
    SCRIPTS,
    STATIC_DIR,
    STYLESHEETS,
    graphiql_html,
    json_for_script,
)
from tests.client import GraphQLClient, app_http, graphql_client
from tests.factories import make_user

PRODUCTION: dict[str, Any] = {"env": "production", "jwt_secret": "x" * 48}
HTML = {"Accept": "text/html"}
INTROSPECTION = "{ __schema { queryType { name } } }"


class Page(HTMLParser):
    """What a page loads: script and stylesheet URLs, inline scripts and styles."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.urls: list[str] = []
        self.inline_scripts: list[tuple[dict[str, str | None], str]] = []
        self.style_elements = 0
        self.style_attributes = 0
        self._open_script: dict[str, str | None] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes:
            self.style_attributes += 1
        for name in ("src", "href"):
            if attributes.get(name):
                self.urls.append(str(attributes[name]))
        if tag == "script":
            if attributes.get("src"):
                self.scripts.append(str(attributes["src"]))
            else:
                self._open_script = attributes
        elif tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(str(attributes["href"]))
        elif tag == "style":
            self.style_elements += 1

    def handle_data(self, data: str) -> None:
        if self._open_script is not None:
            self.inline_scripts.append((self._open_script, data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open_script = None

    def config(self) -> dict[str, Any]:
        (block,) = [
            text
            for attributes, text in self.inline_scripts
            if attributes.get("id") == "graphiql-config"
        ]
        config: dict[str, Any] = json.loads(block)
        return config


def _csp(response: httpx.Response) -> dict[str, list[str]]:
    header = response.headers["content-security-policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


# --- the page and its files -----------------------------------------------------------


async def test_page_loads_only_the_apps_own_files(settings: Settings, db: Database) -> None:
    async with app_http(settings, db) as http:
        response = await http.get("/graphql", headers=HTML)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert not re.search(r"https?://|//[a-z]", response.text, re.IGNORECASE)
        page = Page(response.text)
        assert len(page.scripts) == len(SCRIPTS) and len(page.stylesheets) == len(STYLESHEETS)
        for url in page.urls:
            assert url.startswith("/graphiql/static/") or url == "data:,", url
        # Nothing inline that the CSP would have to allow: only the JSON settings block.
        assert [attributes.get("type") for attributes, _ in page.inline_scripts] == [
            "application/json"
        ]
        assert page.style_elements == 0 and page.style_attributes == 0

        for urls, content_type in (
            (page.scripts, "text/javascript"),
            (page.stylesheets, "text/css"),
        ):
            for url in urls:
                name = url.split("?")[0].rsplit("/", 1)[1]
                plain = await http.get(url, headers={"Accept-Encoding": "identity"})
                assert plain.status_code == 200, url
                assert plain.headers["content-type"].startswith(content_type), url
                assert plain.headers["x-content-type-options"] == "nosniff"
                cache_control = plain.headers["cache-control"]
                assert "immutable" in cache_control and "max-age=31536000" in cache_control
                assert plain.content == (STATIC_DIR / name).read_bytes()
                assert "content-encoding" not in plain.headers
                zipped = await http.get(url, headers={"Accept-Encoding": "gzip"})
                assert zipped.headers["content-encoding"] == "gzip"
                assert zipped.content == plain.content  # httpx decodes it
                assert int(zipped.headers["content-length"]) < len(plain.content)
                head = await http.head(url)
                assert head.status_code == 200 and head.content == b""


# The vendored files (`sha256sum` lines), byte for byte those of the npm packages
# (static/README.md): a refresh updates these sums along with the README.
VENDORED: dict[str, str] = dict(
    (name, digest)
    for digest, name in (
        line.split()
        for line in """
d949f1c3687aedadcedac85261865f29b17cd273997e7f6b2bfc53b2f9d4c4dd  react.production.min.js
35f4f974f4b2bcd44da73963347f8952e341f83909e4498227d4e26b98f66f0d  react-dom.production.min.js
22faab94067b695e5f7959619fbe686ebcc8955002a0c97d986bcbba4ad4bc2c  graphiql.min.js
b1868247f8e0502cd869e581f5f3cb55b334862e7f51b1d6cbace11059b9adc2  graphiql.min.css
9a29da99ff466480eb973a0c5c3bd4e790ca93a0c2e43ea935cb480d614cc52d  plugin-explorer.umd.js
f9f76eb37ed07f770420a883dd5bd3be031d73ca8e013d4d1942847afcf997a9  plugin-explorer.css
""".strip().splitlines()
    )
)


def test_vendored_files_are_the_pinned_ones_with_their_licenses() -> None:
    assert set(VENDORED) | {"boot.js", "page.css"} == {*SCRIPTS, *STYLESHEETS}
    for name, digest in VENDORED.items():
        assert hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest() == digest, name
    assert 'version:"18.3.1' in (STATIC_DIR / "react-dom.production.min.js").read_text()
    for name in ("react", "react-dom", "graphiql", "graphiql-explorer"):
        assert "MIT License" in (STATIC_DIR / f"LICENSE.{name}").read_text()
    readme = (STATIC_DIR / "README.md").read_text()
    for pinned in ("react@18.3.1", "graphiql@3.8.3", "@graphiql/plugin-explorer@3.2.5"):
        assert pinned in readme


async def test_only_the_listed_files_are_served(settings: Settings, db: Database) -> None:
    async with app_http(settings, db) as http:
        for name in ("README.md", "LICENSE.react", "..%2Fhttp.py", "__init__.py", "nope.js"):
            response = await http.get(f"/graphiql/static/{name}")
            assert response.status_code == 404, name
        assert (await http.get("/graphiql/static/../graphiql/__init__.py")).status_code == 404


async def test_csp_and_security_headers_forbid_other_origins(
    settings: Settings, db: Database
) -> None:
    async with app_http(settings, db) as http:
        response = await http.get("/graphql", headers=HTML)
    csp = _csp(response)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    # Inline styles: only GraphiQL's dialog scroll lock, by its hash.
    lock = hashlib.sha256(DIALOG_SCROLL_LOCK_STYLE.encode()).digest()
    assert csp["style-src"] == ["'self'", f"'sha256-{base64.b64encode(lock).decode()}'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"] and csp["form-action"] == ["'none'"]
    allowed = {"'self'", "'none'", "data:"}
    for directive, sources in csp.items():
        if directive == "style-src":
            sources = sources[:1]
        assert set(sources) <= allowed, (directive, sources)
        if "data:" in sources:
            assert directive in ("font-src", "img-src"), directive
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_the_hashed_inline_style_is_the_one_the_vendored_graphiql_writes() -> None:
    # react-remove-scroll-bar's template, in the bundle; with gap and paddings 0 (page.css).
    bundle = (STATIC_DIR / "graphiql.min.js").read_text()
    assert '" {\\n   overflow: hidden ").concat(important, ";\\n   padding-right: "' in bundle
    assert '";\\n  }\\n  \\n  body {\\n    ").concat(_constants.removedBarSizeVariable' in bundle
    assert "margin: 0" in (STATIC_DIR / "page.css").read_text()
    assert "padding" not in (STATIC_DIR / "page.css").read_text()
    assert DIALOG_SCROLL_LOCK_STYLE.startswith("\n  .with-scroll-bars-hidden {\n")
    assert DIALOG_SCROLL_LOCK_STYLE.endswith("--removed-body-scroll-bar-size: 0px;\n  }\n")


def test_settings_block_cannot_break_out_of_its_script_element() -> None:
    hostile = "</script><script>alert(1)</script><!-- \u2028 & \u2029"
    text = json_for_script({"headers": hostile})
    assert re.fullmatch(r"[\x20-\x7e]*", text)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"headers": hostile}
    page = Page(graphiql_html(production=True, token=hostile))
    assert len(page.scripts) == len(SCRIPTS)
    assert json.loads(page.config()["headers"]) == {"Authorization": f"Bearer {hostile}"}


# --- production ----------------------------------------------------------------------


async def test_production_admin_cookie_prefills_the_token_and_does_not_persist_it(
    settings: Settings, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    async with graphql_client(settings, db, differential=False, **PRODUCTION) as graphql:
        token = graphql.token(admin.id, admin.email)
        response = await graphql.http.get(
            "/graphql", headers={**HTML, "Cookie": f"caregraph_token={token}"}
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert _csp(response)["script-src"] == ["'self'"]
        config = Page(response.text).config()
        assert config["persistHeaders"] is False
        assert json.loads(config["headers"]) == {"Authorization": f"Bearer {token}"}

        # Through the Authorization header instead: admitted, nothing to pre-fill.
        by_header = await graphql.http.get(
            "/graphql", headers={**HTML, "Authorization": f"Bearer {token}"}
        )
        assert by_header.status_code == 200
        assert token not in by_header.text
        assert Page(by_header.text).config() == {"persistHeaders": False}

        # The API itself still ignores the cookie: introspection stays refused.
        api = await graphql.http.post(
            "/graphql",
            json={"query": INTROSPECTION},
            headers={"Cookie": f"caregraph_token={token}"},
        )
        assert api.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_production_refuses_non_admins_and_anonymous(
    settings: Settings, db: Database
) -> None:
    patient = await make_user(db)
    async with graphql_client(settings, db, differential=False, **PRODUCTION) as graphql:
        token = graphql.token(patient.id, patient.email)
        for headers in (
            HTML,
            {**HTML, "Cookie": f"caregraph_token={token}"},
            {**HTML, "Authorization": f"Bearer {token}"},
            {**HTML, "Cookie": "caregraph_token=not-a-jwt"},
        ):
            response = await graphql.http.get("/graphql", headers=headers)
            assert response.status_code == 403, headers
            assert token not in response.text
            assert "graphiql.min.js" not in response.text
            assert response.headers["x-content-type-options"] == "nosniff"


async def test_development_page_keeps_headers_editable_and_persisted(
    client: GraphQLClient,
) -> None:
    token = "a-token-that-development-ignores"
    response = await client.http.get(
        "/graphql", headers={**HTML, "Cookie": f"caregraph_token={token}"}
    )
    assert response.status_code == 200
    assert Page(response.text).config() == {"persistHeaders": True}
    assert token not in response.text


# --- the bootstrap script, run under Node with stubs ----------------------------------

_HARNESS = r"""
const fs = require("fs");
const vm = require("vm");
const [bootPath, configText] = process.argv.slice(1);  // node -e CODE -- ARGS
const rendered = [];
const localWrites = [];
const context = {
  Map,
  JSON,
  String,
  window: { location: { pathname: "/graphql" } },
  localStorage: { setItem: (key) => localWrites.push(key) },
  document: {
    getElementById: (id) => (id === "graphiql-config" ? { textContent: configText } : { id }),
  },
  GraphiQL: { createFetcher: (options) => ({ fetcherFor: options.url }) },
  GraphiQLPluginExplorer: { explorerPlugin: () => "explorer" },
  React: { createElement: (component, props) => ({ component, props }) },
  ReactDOM: { createRoot: (node) => ({ render: (element) => rendered.push([node, element]) }) },
};
vm.runInNewContext(fs.readFileSync(bootPath, "utf8"), context);
const [[node, element]] = rendered;
const props = element.props;
let storage = null;
if (props.storage) {
  props.storage.setItem("graphiql:headers", "secret");
  storage = {
    readBack: props.storage.getItem("graphiql:headers"),
    length: props.storage.length,
    missing: props.storage.getItem("nope"),
  };
}
console.log(JSON.stringify({
  mountedOn: node.id,
  isGraphiQL: element.component === context.GraphiQL,
  fetcher: props.fetcher,
  shouldPersistHeaders: props.shouldPersistHeaders,
  isHeadersEditorEnabled: props.isHeadersEditorEnabled,
  headers: props.headers ?? null,
  defaultHeaders: props.defaultHeaders ?? null,
  plugins: props.plugins,
  storage,
  localWrites,
}));
"""


def _run_boot(config: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    completed = subprocess.run(
        [node, "-e", _HARNESS, "--", str(STATIC_DIR / "boot.js"), json_for_script(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


async def test_boot_script_in_production_keeps_headers_in_memory_only(
    settings: Settings, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    async with graphql_client(settings, db, differential=False, **PRODUCTION) as graphql:
        token = graphql.token(admin.id, admin.email)
        response = await graphql.http.get(
            "/graphql", headers={**HTML, "Cookie": f"caregraph_token={token}"}
        )
    props = _run_boot(Page(response.text).config())
    assert props["mountedOn"] == "graphiql" and props["isGraphiQL"]
    assert props["fetcher"] == {"fetcherFor": "/graphql"}
    assert props["plugins"] == ["explorer"]
    assert props["shouldPersistHeaders"] is False
    assert props["isHeadersEditorEnabled"] is True
    expected = {"Authorization": f"Bearer {token}"}
    assert json.loads(props["headers"]) == expected
    assert json.loads(props["defaultHeaders"]) == expected
    # An in-memory storage: it works, and nothing reaches localStorage.
    assert props["storage"] == {"readBack": "secret", "length": 1, "missing": None}
    assert props["localWrites"] == []


def test_boot_script_in_development_uses_graphiqls_default_storage() -> None:
    props = _run_boot(Page(graphiql_html(production=False)).config())
    assert props["shouldPersistHeaders"] is True
    assert props["isHeadersEditorEnabled"] is True
    assert props["storage"] is None  # GraphiQL's own localStorage
    assert props["headers"] is None and props["defaultHeaders"] is None
