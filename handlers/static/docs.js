// The /schema page: Swagger UI on leadhook's own OpenAPI document. validatorUrl null: no
// request to the public validator (the page loads nothing from outside leadhook).
window.ui = SwaggerUIBundle({
  url: "/schema/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
});
