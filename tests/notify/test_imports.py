"""notify takes its texts and buttons from the shared modules, never from the bot; those
modules stay free of telegram, so any process (worker, web, CLI) may use them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def top(names: set[str]) -> set[str]:
    return {name.partition(".")[0] for name in names}


@pytest.mark.parametrize("path", sorted((ROOT / "notify").glob("*.py")), ids=lambda p: p.name)
def test_notify_does_not_import_the_bot(path: Path) -> None:
    assert "bot" not in top(imported(path))


@pytest.mark.parametrize("module", ["i18n.py", "buttons.py"])
def test_the_shared_chat_modules_import_neither_telegram_nor_the_bot(module: str) -> None:
    assert not top(imported(ROOT / "gridlink" / module)) & {"telegram", "bot", "notify", "aiohttp"}
