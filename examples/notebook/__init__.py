"""The NoteBook domain: a notebook aggregate, the ``AddNote`` command and the ``NoteAdded``
event, notes of at most 100 characters; and its read side, two projections: each notebook's
notes, and the list of notebooks (``safe-eventstore projections run
examples.notebook:PROJECTIONS`` keeps them current, as the web app's own agent does).

Importable as ``examples.notebook`` (a front end imports the domain and :func:`notebook_app`);
run the walk-through with ``python -m examples.notebook``.
"""

from __future__ import annotations

from dataclasses import dataclass

import safe_eventstore as ses
from safe_eventstore import cqrs, projections

__all__ = [
    "MAX_NOTE",
    "NOTEBOOKS",
    "NOTES",
    "PROJECTIONS",
    "AddNote",
    "NoteAdded",
    "NoteBook",
    "NoteTooLong",
    "notebook_app",
    "notebook_of",
    "routes",
]

MAX_NOTE = 100
"""The longest note, in characters."""


@ses.event_type("notebook.NoteAdded")
@dataclass(frozen=True)
class NoteAdded:
    text: str


class NoteTooLong(cqrs.DomainError):
    """A note of more than :data:`MAX_NOTE` characters."""


class NoteBook(cqrs.Aggregate):
    """A notebook: the notes added to it, oldest first. A notebook exists from its first
    note on (its stream is ``NoteBook-<id>``)."""

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.notes: list[str] = []

    def add_note(self, text: str) -> None:
        text = text.strip()
        if not text:
            raise cqrs.DomainError("a note needs some text")
        if len(text) > MAX_NOTE:
            raise NoteTooLong(f"a note has at most {MAX_NOTE} characters, not {len(text)}")
        self.record(NoteAdded(text))

    @cqrs.when(NoteAdded)
    def _note_added(self, event: NoteAdded) -> None:
        self.notes.append(event.text)


@dataclass(frozen=True)
class AddNote(cqrs.Command):
    """Add ``text`` to the notebook ``target_id`` (created by its first note)."""

    text: str


def routes(router: cqrs.CommandRouter | cqrs.AsyncCommandRouter) -> None:
    """The notebook's handler, for a sync or an asyncio router."""

    @router.handles(AddNote, NoteBook)
    def add_note(command: AddNote, notebook: NoteBook) -> int:
        notebook.add_note(command.text)
        return len(notebook.notes)


def notebook_app(db: ses.Database) -> tuple[cqrs.CommandRouter, cqrs.Repository[NoteBook]]:
    """A router that executes ``AddNote`` commands, and a repository to read notebooks."""
    router = cqrs.CommandRouter(db)
    routes(router)
    return router, cqrs.Repository(db, NoteBook)


def notebook_of(event: ses.RecordedEvent) -> str:
    """The id of the notebook an event belongs to (its stream is ``NoteBook-<id>``)."""
    return event.stream.split("-", 1)[1]


NOTES = projections.Projection(
    "notes", source=projections.category("NoteBook"), key=notebook_of, initial=[]
)
"""Each notebook's notes, oldest first: one key per notebook (its id)."""

NOTEBOOKS = projections.Projection(
    "notebooks", source=projections.category("NoteBook"), key=lambda event: "all", initial=[]
)
"""The ids of every notebook, sorted, under the one key ``"all"``."""

PROJECTIONS = [NOTES, NOTEBOOKS]


@NOTES.on(NoteAdded)
def _notes(state: list[str], event: ses.RecordedEvent) -> list[str]:
    return [*state, event.data.text]


@NOTEBOOKS.on(NoteAdded)
def _notebooks(state: list[str], event: ses.RecordedEvent) -> list[str]:
    notebook = notebook_of(event)
    return state if notebook in state else sorted([*state, notebook])
