// fncall's start-up for the vendored Swagger UI (kept out of the page so the CSP needs no inline script).
// validatorUrl: null keeps Swagger UI from fetching a badge from its public validator.
window.ui = SwaggerUIBundle({
  url: "./openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  validatorUrl: null,
});
