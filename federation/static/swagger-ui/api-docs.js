// Starts Swagger UI on this node's own OpenAPI document; no external resources are loaded.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: true
});
