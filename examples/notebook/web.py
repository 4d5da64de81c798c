"""The NoteBook as a small web app: add a note (at most 100 characters), list the notes, and
the SAFE EventStore console beside it, over one store.

Run it from the repository's root (after ``bash scripts/setup.sh``)::

    .venv/bin/python -m examples.notebook.web

then open http://127.0.0.1:8766/notebook/ (the console is at http://127.0.0.1:8766/).

The pages are added to the console's app (``create_app``), so they share its session and
its form tokens. The notes are read from two projections (``examples.notebook.PROJECTIONS``),
kept current by a projection agent the app runs in a thread while it serves; after adding a
note, the page waits until the projections have applied it (read-your-writes), so the list
shown always holds the note just added. The console's projections page shows them.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

import safe_eventstore as ses
from safe_eventstore import cqrs, projections
from safe_eventstore.web import create_app, csrf_form, csrf_token

from . import NOTEBOOKS, NOTES, PROJECTIONS, AddNote, notebook_app

__all__ = ["DATABASE", "main", "notebook_web_app"]

DATABASE = "notebook"
WAIT = 5.0  # seconds a page waits for the projections to apply a note just added
_templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _notebooks(db: ses.Database) -> dict[str, list[str]]:
    """Every notebook's notes, from the projections."""
    notes = projections.ReadModel(db, NOTES)
    names = projections.ReadModel(db, NOTEBOOKS).state("all")
    return {name: notes.state(name) for name in names}


def _serve_projections(app: FastAPI, db: ses.Database) -> None:
    """Run a projection agent in a thread while ``app`` serves (its lifespan)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        owner = f"notebook@{socket.gethostname()}:{os.getpid()}:{id(app):x}"

        def work() -> None:
            # the sync agent runs (and releases its leases) in its own thread, away from
            # the server's event loop
            with projections.Agent(db, PROJECTIONS, owner=owner) as agent:
                agent.run(stop)

        worker = threading.Thread(target=work, name="notebook-projections")
        worker.start()
        try:
            async with inner(app):
                yield
        finally:
            stop.set()
            worker.join()

    app.router.lifespan_context = lifespan


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
            done = router.execute(AddNote(target_id=notebook, text=text))
        except (cqrs.DomainError, ses.InvalidInput) as refused:
            return _page(request, db, 422, error=str(refused), notebook=notebook, text=text)
        position = max(result.position for result in done.results)
        for model in (projections.ReadModel(db, NOTES), projections.ReadModel(db, NOTEBOOKS)):
            model.wait(position, timeout=WAIT)
        return RedirectResponse(f"/notebook/?notebook={notebook}", status_code=303)

    app = create_app(store)
    app.include_router(pages)
    _serve_projections(app, db)
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
