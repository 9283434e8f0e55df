"""docs/api/card-v1.openapi.yaml describes every endpoint of the design's API table."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from card_app.errors import ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "api" / "card-v1.openapi.yaml"
DESIGN = ROOT / "docs" / "design" / "card-app.md"


def design_endpoints() -> set[tuple[str, str]]:
    """``(method, /path)`` of each row of the design's API table (``{kid}`` style parameters)."""
    rows = re.findall(r"^\| `(GET|POST|PATCH|DELETE) ([a-z/{}_-]+)` \|", DESIGN.read_text(), re.M)
    return {(method.lower(), "/" + path) for method, path in rows}


def spec_endpoints(text: str) -> set[tuple[str, str]]:
    """``(method, path)`` under ``paths:``, read from the indentation (no YAML parser needed)."""
    found: set[tuple[str, str]] = set()
    in_paths, path = False, None
    for line in text.splitlines():
        if re.match(r"^\S", line):
            in_paths = line.startswith("paths:")
            continue
        if not in_paths:
            continue
        if match := re.match(r"^  (/\S*):\s*$", line):
            path = match.group(1)
        elif (match := re.match(r"^    (get|post|patch|delete|put):\s*$", line)) and path:
            found.add((match.group(1), path))
    return found


def test_the_design_table_is_read():
    assert len(design_endpoints()) == 14


def test_every_design_endpoint_is_described():
    described = spec_endpoints(SPEC.read_text())
    assert design_endpoints() <= described
    assert described <= design_endpoints()


def test_every_error_code_is_listed():
    text = SPEC.read_text()
    enum = text.split("    ErrorCode:", 1)[1].split("    Error:", 1)[0]
    listed = set(re.findall(r"^        - ([a-z_]+)$", enum, re.M))
    assert listed == ERROR_CODES


def test_parses_as_openapi_31():
    spec = yaml.safe_load(SPEC.read_text())
    assert spec["openapi"] == "3.1.0"
    parsed = {
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "patch", "delete"}
    }
    assert parsed == spec_endpoints(SPEC.read_text())
    schemes = spec["components"]["securitySchemes"]
    assert schemes["CardDevice"] == {**schemes["CardDevice"], "type": "apiKey", "in": "header"}
    assert spec["paths"]["/activation/start"]["post"]["security"] == []
