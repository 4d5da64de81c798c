"""The NoteBook web sample: add a note, a refused one, the list, its events in the console,
and the one command of its README."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient

import safe_eventstore as ses
from examples.notebook import NOTEBOOKS, NOTES
from examples.notebook.web import notebook_web_app
from safe_eventstore import projections

from .console import form_token

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def notes(store: ses.Store) -> Iterator[TestClient]:
    with TestClient(notebook_web_app(store)) as client:
        yield client


def add(client: TestClient, text: str, notebook: str = "groceries") -> httpx2.Response:
    token = form_token(client, "/notebook/")
    return client.post(
        "/notebook/notes", data={"csrf_token": token, "notebook": notebook, "text": text}
    )


def test_notes_are_added_and_listed(notes: TestClient, store: ses.Store) -> None:
    assert add(notes, "milk").status_code == 200
    page = add(notes, "bread <the dark one>", notebook="bakery").text
    assert re.findall(r"<li>([^<]+)</li>", page) == ["bread &lt;the dark one&gt;", "milk"]
    [event] = store.database("notebook").read_stream("NoteBook-groceries")
    assert event.type == "notebook.NoteAdded" and event.causation_id is not None


def test_a_note_over_100_characters_is_refused_with_a_clear_message(
    notes: TestClient, store: ses.Store
) -> None:
    refused = add(notes, "x" * 101)
    assert refused.status_code == 422
    message = re.search(r'id="refused">([^<]+)<', refused.text)
    assert message and message.group(1) == "a note has at most 100 characters, not 101"
    assert 'value="' + "x" * 101 + '"' in refused.text  # the text stays, to shorten
    assert not list(store.database("notebook").read_category("NoteBook"))
    assert add(notes, "y" * 100).status_code == 200


def test_a_note_without_the_form_token_is_refused(notes: TestClient, store: ses.Store) -> None:
    form_token(notes, "/notebook/")
    refused = notes.post("/notebook/notes", data={"notebook": "g", "text": "forged"})
    assert refused.status_code == 403
    assert not list(store.database("notebook").read_category("NoteBook"))


def test_the_notes_events_are_in_the_console(notes: TestClient) -> None:
    add(notes, "milk")
    page = notes.get("/db/notebook/streams/NoteBook-groceries").text
    assert "notebook.NoteAdded" in page and "milk" in page
    assert "NoteBook" in notes.get("/db/notebook").text


def test_the_notes_are_read_from_projections_the_console_shows(
    notes: TestClient, store: ses.Store
) -> None:
    add(notes, "milk")
    db = store.database("notebook")
    assert projections.ReadModel(db, NOTES).state("groceries") == ["milk"]
    assert projections.ReadModel(db, NOTEBOOKS).state("all") == ["groceries"]
    page = notes.get("/db/notebook/projections").text
    for name in ("notes", "notebooks"):
        row = re.search(rf'<tr class="state-(\w+)" data-projection="{name}"', page)
        assert row and row.group(1) == "running", name


def test_the_readme_command_serves_the_notebook(tmp_path: Path) -> None:
    readme = (ROOT / "examples" / "notebook" / "README.md").read_text()
    assert ".venv/bin/python -m examples.notebook.web" in readme
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "examples.notebook.web", "--port", str(port)]
    command += ["--store", str(tmp_path / "notes")]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            assert f":{port}/notebook/" in process.stdout.readline()
            deadline = time.monotonic() + 30
            while True:
                try:
                    page = httpx2.get(f"http://127.0.0.1:{port}/notebook/", timeout=5)
                    break
                except httpx2.TransportError:
                    assert time.monotonic() < deadline, "the notebook did not start"
                    time.sleep(0.1)
            assert page.status_code == 200 and "Add a note" in page.text
        finally:
            process.terminate()
            process.wait(timeout=30)
