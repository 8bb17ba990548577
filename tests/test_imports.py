"""The domain packages stay domain: no adapter, transport or reporting import, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ("cases", "grids", "media")
FORBIDDEN = ("stats", "notify", "bot", "api", "open311", "sandbox", "aiohttp.web", "telegram")
PACKAGES = ("cases", "grids", "media", "stats", "notify", "bot", "api", "open311", "staff", "gridlink")
# The composition roots wire packages together (the app, the schema, the command lines);
# they are nobody's dependency, so their imports make no cycle.
ROOTS = ("gridlink/app.py", "gridlink/schema.py", "gridlink/demo.py")


def imports_of(path: Path) -> set[str]:
    """Every module name a file imports (absolute names; relative ones resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(ROOT).parent.as_posix().replace("/", ".")
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _hits(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def package_imports(package: str) -> dict[Path, set[str]]:
    return {path: imports_of(path) for path in sorted((ROOT / package).rglob("*.py"))
            if path.relative_to(ROOT).as_posix() not in ROOTS and path.name != "cli.py"}


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_package_imports_no_adapter(package: str) -> None:
    bad = sorted(f"{path.relative_to(ROOT)} imports {name}"
                 for path, names in package_imports(package).items()
                 for name in names for prefix in FORBIDDEN if _hits(name, prefix))
    assert not bad, "\n".join(bad)


def test_no_cycles_between_packages() -> None:
    graph = {pkg: {other for names in package_imports(pkg).values() for name in names
                   for other in PACKAGES if other != pkg and _hits(name, other)}
             for pkg in PACKAGES}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(f"{a} -> {b} -> … -> {a}" for a in PACKAGES for b in graph[a] if reaches(b, a, {b}))
    assert not cycles, "\n".join(cycles)


def test_the_walker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The check itself can fail: a file importing telegram is reported."""
    sample = ROOT / "cases" / "_probe_for_test.py"
    sample.write_text("from telegram import Bot\nfrom ..stats import rollups\n")
    try:
        names = imports_of(sample)
        assert "telegram" in names and "stats" in {n.split(".")[0] for n in names}
    finally:
        sample.unlink()
