// caregraph's GraphiQL bootstrap (not vendored). Runs after React, ReactDOM, GraphiQL and
// the explorer plugin; reads its settings from the page's <script type="application/json"
// id="graphiql-config"> block, so the page itself needs no inline script.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("graphiql-config").textContent);

  // Production: nothing GraphiQL stores (tabs, headers, the "persist headers" switch)
  // outlives the page, so the admin's token never reaches localStorage.
  function memoryStorage() {
    var items = new Map();
    return {
      getItem: function (key) {
        return items.has(key) ? items.get(key) : null;
      },
      setItem: function (key, value) {
        items.set(key, String(value));
      },
      removeItem: function (key) {
        items.delete(key);
      },
      clear: function () {
        items.clear();
      },
      get length() {
        return items.size;
      },
    };
  }

  var props = {
    // The page is served by the GraphQL endpoint itself: same origin, same path.
    fetcher: GraphiQL.createFetcher({ url: window.location.pathname }),
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    defaultEditorToolsVisibility: true,
    inputValueDeprecation: true,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: config.persistHeaders,
  };
  if (!config.persistHeaders) {
    props.storage = memoryStorage();
  }
  if (config.headers) {
    props.defaultHeaders = config.headers;
    props.headers = config.headers;
    props.defaultEditorToolsVisibility = "headers";
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
})();
