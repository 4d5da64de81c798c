"""The web console and the HTTP API: ``safe-eventstore serve``, or in your own server::

    import safe_eventstore as ses
    from safe_eventstore.web import create_app

    app = create_app(ses.open("sqlite:///var/lib/events"), token="s3cret")
    # uvicorn.run(app, host="127.0.0.1", port=8000)

Needs the ``web`` extra (``pip install 'safe-eventstore[web]'``); without it, importing this
package raises :class:`ImportError` with that hint, and the rest of the library works as ever.
docs/web.md describes the API and the layout of this package.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
    import sse_starlette  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "the web console needs the 'web' extra: pip install 'safe-eventstore[web]'"
    ) from exc

from ._app import create_app
from ._context import WebContext, web_context
from ._csrf import csrf_form, csrf_token

__all__ = ["WebContext", "create_app", "csrf_form", "csrf_token", "web_context"]
