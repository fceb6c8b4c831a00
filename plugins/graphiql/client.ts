// The browser side of /graphiql, served as a file of our own (the page's CSP allows no inline script).
export const clientScript = `'use strict';
(function () {
  var root = document.getElementById('graphiql');
  var endpoint = root.getAttribute('data-endpoint');
  // subscriptions over a socket to the same path; the Headers tab's Authorization goes in connection_init
  var socketUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + endpoint;
  var fetcher = GraphiQL.createFetcher({ url: endpoint, subscriptionUrl: socketUrl });
  var defaultQuery = '# Run with the play button. Introspection works without a token;\\n# pingOne needs an Authorization header (Headers tab below).\\nquery {\\n  pingOne(id: "12345")\\n  me { userId sessionId orgId orgRole orgPermissions }\\n}\\n';
  function render (headers) {
    ReactDOM.createRoot(root).render(React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      headers: headers,
      defaultEditorToolsVisibility: headers ? 'headers' : true,
      shouldPersistHeaders: false
    }));
  }
  if (root.getAttribute('data-dev-token') === 'true') {
    fetch('/graphiql/dev-token', { cache: 'no-store' })
      .then(function (response) { return response.json(); })
      .then(function (body) { render(JSON.stringify({ Authorization: 'Bearer ' + body.token }, null, 2)); })
      .catch(function () { render(undefined); });
  } else {
    render(undefined);
  }
})();
`
