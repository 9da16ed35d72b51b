// Starts Swagger UI on this node's own OpenAPI document; no external resources are loaded.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  // The token typed in "Authorize" stays in this page's memory: never in localStorage, where any script of this
  // origin could read it long after the tab is closed.
  persistAuthorization: false
});
