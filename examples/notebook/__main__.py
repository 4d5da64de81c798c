"""Notes in a notebook: ``python -m examples.notebook``."""

from __future__ import annotations

import safe_eventstore as ses

from . import AddNote, NoteTooLong, notebook_app


def main() -> None:
    with ses.open("memory://") as store:
        router, notebooks = notebook_app(store.create_database("notes"))
        router.execute(AddNote(target_id="groceries", text="milk"))
        count = router.execute(AddNote(target_id="groceries", text="bread, the dark one")).value
        print(f"groceries: {count} notes")
        try:
            router.execute(AddNote(target_id="groceries", text="x" * 101))
        except NoteTooLong as refused:
            print(f"refused: {refused}")
        notebook = notebooks.get("groceries")
        print(f"{notebook.stream} at version {notebook.version}: {notebook.notes}")


if __name__ == "__main__":
    main()
