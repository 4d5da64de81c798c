"""The API's interactive docs at ``/docs``, with Swagger UI served from this server (the
``swagger-ui-bundle-v2`` package ships it), so they work without reaching any CDN."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

__all__ = ["install_docs"]

STATIC = "/docs/static"


def install_docs(app: FastAPI) -> None:
    """Serve the interactive docs of ``app``'s OpenAPI document at ``/docs``."""

    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title}: API",
            swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC}/favicon-32x32.png",
        )

    app.add_api_route("/docs", docs, include_in_schema=False)
    app.mount(STATIC, StaticFiles(directory=str(swagger_ui_path)), name="docs-static")
