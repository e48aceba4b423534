"""The core must not depend on Rasa: it is tested without a Rasa server and must outlive Rasa 3.6."""

from __future__ import annotations

import ast

from helpline.settings import PROJECT_ROOT

FORBIDDEN = ("rasa", "rasa_sdk", "sanic")


def imported_modules(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_does_not_import_rasa() -> None:
    offenders = []
    for path in sorted((PROJECT_ROOT / "helpline").rglob("*.py")):
        for name in imported_modules(path.read_text(encoding="utf-8")):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(PROJECT_ROOT)} imports {name}")
    assert not offenders


def test_detector_catches_a_forbidden_import() -> None:
    assert "rasa.core.channels" in imported_modules("from rasa.core.channels import InputChannel")
