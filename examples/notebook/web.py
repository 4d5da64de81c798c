"""The NoteBook as a small web app: add a note (at most 100 characters), list the notes, and
the SAFE EventStore console beside it, over one store.

Run it from the repository's root (after ``bash scripts/setup.sh``)::

    .venv/bin/python -m examples.notebook.web

then open http://127.0.0.1:8766/notebook/ (the console is at http://127.0.0.1:8766/).

The pages are added to the console's app (``create_app``), so they share its session and
its form tokens. The list of notes is built by reading the ``NoteBook`` category's events
on each request: simple and always current, and the place a projection (a read model kept
up to date by a subscription) takes once the projections package exists.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import safe_eventstore as ses
from safe_eventstore import cqrs
from safe_eventstore.web import create_app, csrf_form, csrf_token

from . import AddNote, NoteAdded, notebook_app

__all__ = ["DATABASE", "main", "notebook_web_app"]

DATABASE = "notebook"
_templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _notebooks(db: ses.Database) -> dict[str, list[str]]:
    """Every notebook's notes, from the events (until a projection keeps this list)."""
    notebooks: dict[str, list[str]] = {}
    for event in db.read_category("NoteBook", types=["notebook.NoteAdded"]):
        text = event.data.text if isinstance(event.data, NoteAdded) else str(event.data)
        notebooks.setdefault(event.stream.split("-", 1)[1], []).append(text)
    return notebooks


def _page(request: Request, db: ses.Database, status: int = 200, **values: object) -> Response:
    context = {
        "notebooks": _notebooks(db),
        "csrf_token": csrf_token(request),
        "error": None,
        "notebook": "groceries",
        "text": "",
        "db": db.name,
        **values,
    }
    return _templates.TemplateResponse(request, "notes.html", context, status_code=status)


def notebook_web_app(store: ses.Store) -> FastAPI:
    """The console over ``store``, with the NoteBook's pages under ``/notebook/``."""
    try:
        db = store.database(DATABASE)
    except ses.DatabaseNotFound:
        db = store.create_database(DATABASE)
    router, _ = notebook_app(db)
    pages = APIRouter(prefix="/notebook", include_in_schema=False)

    @pages.get("/")
    def notes(request: Request) -> Response:
        return _page(request, db)

    @pages.post("/notes")
    def add_note(request: Request, form: Annotated[FormData, Depends(csrf_form)]) -> Response:
        notebook = str(form.get("notebook", "")).strip() or "groceries"
        text = str(form.get("text", ""))
        try:
            router.execute(AddNote(target_id=notebook, text=text))
        except (cqrs.DomainError, ses.InvalidInput) as refused:
            return _page(request, db, 422, error=str(refused), notebook=notebook, text=text)
        return RedirectResponse(f"/notebook/?notebook={notebook}", status_code=303)

    app = create_app(store)
    app.include_router(pages)
    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default="./notebook-data", help="the store's URL")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    with ses.open(args.store) as store:
        print(
            f"NoteBook at http://127.0.0.1:{args.port}/notebook/ (console: /). Ctrl-C stops.",
            flush=True,
        )
        uvicorn.run(notebook_web_app(store), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
