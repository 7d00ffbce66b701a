"""`/api/docs` without the internet (Swagger UI from the package's own files) and the OpenAPI's
security schemes, so "Authorize" sends the key the way the API reads it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

DOCS_URL = "/api/docs"
# swagger-ui-dist from npm, vendored next to uPlot (licence files beside them); /dashboard serves them.
SWAGGER_JS = "/dashboard/vendor/swagger-ui-bundle.js"
SWAGGER_CSS = "/dashboard/vendor/swagger-ui.css"
FAVICON = "/dashboard/favicon.svg"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`ssk_<prefix>_<secret>`, made by `smartstore keys create`).",
    },
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def install_docs(app: FastAPI, *, api_prefix: str) -> None:
    """Serve Swagger UI at DOCS_URL from local files; mark every operation under `api_prefix` as keyed."""
    openapi_url = app.openapi_url
    assert openapi_url is not None
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build_openapi()
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            for path, operations in schema["paths"].items():
                if path.startswith(api_prefix + "/"):
                    for operation in operations.values():
                        operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=FAVICON,
            swagger_ui_parameters={"persistAuthorization": True},
        )
