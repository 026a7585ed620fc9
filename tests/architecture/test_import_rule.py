"""The one-way rule, checked by parsing every module's imports (DESIGN.md, STYLE.md).

    webhooks -> payments -> adapters, never the other way;
    adapters: only the standard library, requests, cryptography and adapters.*;
    payments outside payments/web: never Flask (nor werkzeug or jinja2), never webhooks;
    payments/web: never webhooks.

Imports inside functions and under `if TYPE_CHECKING:` count as well.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
ADAPTER_THIRD_PARTY = frozenset({"requests", "cryptography"})
WEB_FRAMEWORK = frozenset({"flask", "werkzeug", "jinja2"})


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}: {self.rule}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path, path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(root, path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target:
                yield node.lineno, target
            for alias in node.names:  # `from payments import web` imports payments.web
                yield node.lineno, f"{target}.{alias.name}" if target else alias.name


def top(name: str) -> str:
    return name.split(".", 1)[0]


def is_under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def rule_broken(module: str, imported: str) -> str | None:
    first = top(imported)
    if is_under(module, "adapters"):
        if first in ("flask", "sqlalchemy", "payments", "webhooks") or first in WEB_FRAMEWORK:
            return "adapters know nothing of Flask, the database, payments or webhooks"
        if first not in STDLIB and first not in ADAPTER_THIRD_PARTY and first != "adapters":
            return "adapters import only the standard library, requests and cryptography"
        return None
    if is_under(module, "payments.web"):
        if first == "webhooks":
            return "payments/web never imports webhooks (wsgi.py wires them)"
        return None
    if is_under(module, "payments"):
        if first == "webhooks":
            return "payments never imports webhooks"
        if first in WEB_FRAMEWORK:
            return "the payments core never imports the web framework"
    return None


def modules(root: Path) -> Iterator[Path]:
    for package in ("adapters", "payments", "webhooks"):
        yield from sorted((root / package).rglob("*.py"))


def violations(root: Path) -> list[Violation]:
    found = []
    for path in modules(root):
        name = module_name(root, path)
        flagged_lines: set[int] = set()
        for line, imported in imports_of(root, path):
            rule = rule_broken(name, imported)
            if rule and line not in flagged_lines:  # one report per import statement
                flagged_lines.add(line)
                found.append(Violation(name, line, imported, rule))
    return found


def test_the_checker_reads_every_package() -> None:
    names = {module_name(ROOT, p) for p in modules(ROOT)}

    assert {
        "adapters.base",
        "adapters.sandbox",
        "payments.services.attempts",
        "payments.web.api",
        "webhooks.inbound",
    } <= names


def test_the_import_rule_holds_in_every_module() -> None:
    broken = violations(ROOT)

    assert broken == [], "\n".join(str(v) for v in broken)


# -- the checker itself can fail --------------------------------------------------------------


SYNTHETIC = {
    "adapters/__init__.py": "",
    "adapters/good.py": (
        "import json\n"
        "import requests\n"
        "from cryptography.hazmat import primitives\n"
        "from adapters.base import Adapter\n"
        "from . import _crypto\n"
    ),
    "adapters/uses_flask.py": "from flask import request\n",
    "adapters/uses_db.py": "def f():\n    import sqlalchemy\n",
    "adapters/uses_payments.py": "from payments.models import Payment\n",
    "adapters/uses_pydantic.py": "import pydantic\n",
    "adapters/relative_escape.py": "from .. import payments\n",
    "adapters/relative_ok.py": "from .base import Adapter\nfrom . import errors\n",
    "payments/__init__.py": "",
    "payments/core.py": "import sqlalchemy\nfrom adapters.base import Adapter\n",
    "payments/services/__init__.py": "",
    "payments/services/uses_webhooks.py": "from webhooks.inbound import receive\n",
    "payments/services/uses_flask.py": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from flask import Flask\n"
    ),
    "payments/services/uses_werkzeug.py": "import werkzeug.exceptions\n",
    "payments/web/__init__.py": "",
    "payments/web/ok.py": "from flask import Blueprint\nfrom payments.services import core\n",
    "payments/web/uses_webhooks.py": "from webhooks import inbound\n",
    "webhooks/__init__.py": "",
    "webhooks/ok.py": (
        "from flask import Blueprint\nfrom payments.services.attempts import apply_result\n"
    ),
}


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    for relative, source in SYNTHETIC.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return tmp_path


def test_the_checker_flags_each_synthetic_violation_and_nothing_else(synthetic: Path) -> None:
    flagged = {v.module for v in violations(synthetic)}

    assert flagged == {
        "adapters.uses_flask",
        "adapters.uses_db",
        "adapters.uses_payments",
        "adapters.uses_pydantic",
        "adapters.relative_escape",
        "payments.services.uses_webhooks",
        "payments.services.uses_flask",
        "payments.services.uses_werkzeug",
        "payments.web.uses_webhooks",
    }


def test_a_violation_names_the_module_the_line_and_the_rule(synthetic: Path) -> None:
    (found,) = [v for v in violations(synthetic) if v.module == "adapters.uses_db"]

    assert (found.line, found.imported) == (2, "sqlalchemy")
    assert str(found).startswith("adapters.uses_db:2 imports sqlalchemy")
