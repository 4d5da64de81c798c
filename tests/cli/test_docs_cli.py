"""docs/cli.md runs: its shell blocks, in order, in one shell, in an empty directory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .support import process_env

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def shell_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", PAGE.read_text(), flags=re.M | re.S)


def test_every_command_has_an_example() -> None:
    text = "".join(shell_blocks()) + PAGE.read_text().split("```text", 1)[1]
    for command in ("db create", "db list", "append", "restructure", "read ", "read-all",
                    "categories", "streams", "tail", "checkpoints list", "checkpoints reset",
                    "verify", "stats", "keys signing-init", "export", "import", "demo",
                    "bench"):  # fmt: skip
        assert re.search(rf"safe-eventstore (--\S+ \S+ )*{command}", text), command


def test_the_examples_run(tmp_path: Path) -> None:
    script = "\n".join(shell_blocks())
    bin_dir = Path(sys.executable).parent
    env = process_env() | {"PATH": f"{bin_dir}:{process_env().get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script], capture_output=True, text=True,
        timeout=300, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "ok: 2 streams" in done.stdout
    assert "imported 0 entries into database restored" in done.stdout
