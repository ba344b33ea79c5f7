"""Write docs/api.md from the public names and their docstrings.

    python -m scripts.api_doc           # rewrite docs/api.md
    python -m scripts.api_doc --check   # exit 1 if docs/api.md is out of date

Every name in ``interlink.__all__``, ``interlink.testing.__all__`` and
``interlink.gateway.__all__`` gets its signature, its docstring (parameters,
return value, errors) and an example: the docstring's own, else the one below.
tests/test_api_doc.py fails when docs/api.md differs from what this writes.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import interlink
from scripts._api_examples import EXAMPLES

MODULES = ["interlink", "interlink.testing", "interlink.gateway", "interlink.outbox"]
TARGET = Path(__file__).resolve().parent.parent / "docs" / "api.md"

HEADER = """# API reference

Generated from the docstrings by `python -m scripts.api_doc` (a test fails when this
page and the code disagree). Every public name of `interlink`, `interlink.testing` and
`interlink.gateway`; anything else is private. Guides: docs/delivery.md (guarantees,
dead letters), docs/testing.md (the harness), docs/gateway.md, docs/resilience.md,
docs/coming-from.md (Nameko, FastStream, Moleculer).
"""


def _signature(obj: Any) -> str:
    try:
        sig = inspect.signature(obj, eval_str=True)
    except (NameError, TypeError, SyntaxError):  # an annotation only importable for type checking
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            return "(...)"
    except ValueError:
        return "(...)"
    text = re.sub(r" at 0x[0-9a-f]+", "", str(sig))
    text = re.sub(r"(?<=[:>] )'([^']*)'", r"\1", text).replace("typing.", "")
    # a public name is shown by the name users import it under, not by its private module
    text = re.sub(r"\b(?:interlink\.)?_[a-z_]+\.([A-Z]\w*)",
                  lambda m: m[1] if m[1] in interlink.__all__ else m[0], text)
    return text.replace("interlink._", "")


def _fence(doc: str) -> str:
    """Indented blocks of a docstring (examples) as fenced Python code."""
    out: list[str] = []
    in_code = False
    for line in doc.split("\n"):
        indented = line.startswith("    ")
        if indented and not in_code and (not out or not out[-1].strip()):
            out.append("```python")
            in_code = True
        elif in_code and line.strip() and not indented:
            if out[-1] == "":
                out.pop()
                out += ["```", ""]
            else:
                out.append("```")
            in_code = False
        out.append(line[4:] if in_code else line)
    if in_code:
        while out and not out[-1].strip():
            out.pop()
        out.append("```")
    return "\n".join(out)


def _doc(obj: Any) -> str:
    return inspect.getdoc(obj) or ""


def _has_example(doc: str) -> bool:
    """A doctest, a ``::`` block, or an indented line of code."""
    return ">>>" in doc or "::" in doc or any(line.startswith("    ") and "(" in line for line in doc.splitlines())


def _members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties defined on the class itself (not inherited from object/Exception)."""
    found: list[tuple[str, Any]] = []
    for name, value in vars(cls).items():
        if name.startswith("_") and name not in ("__init__",):
            continue
        if name == "__init__":
            continue
        if isinstance(value, property | staticmethod | classmethod) or inspect.isfunction(value):
            found.append((name, value))
    return found


def _fields(cls: type) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f"`{f.name}`" for f in dataclasses.fields(cls)]
    struct_fields = getattr(cls, "__struct_fields__", None)
    if struct_fields:
        return [f"`{f}`" for f in struct_fields]
    return []


def _member_line(name: str, value: Any) -> list[str]:
    if isinstance(value, property):
        doc = _doc(value.fget)
        head = f"- `.{name}` (property)"
    else:
        func = value.__func__ if isinstance(value, staticmethod | classmethod) else value
        doc = _doc(func)
        prefix = "async " if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func) else ""
        head = f"- `{prefix}.{name}{_signature(func)}`"
    if not doc:
        return [head]
    first, *rest = doc.split("\n")
    lines = [f"{head}: {first}"]
    lines += [f"  {line}" if line else "" for line in rest]
    return lines


def _entry(module: str, name: str, obj: Any) -> list[str]:
    kind = "class" if inspect.isclass(obj) else "function"
    out = [f"### `{module}.{name}`", ""]
    signature = _signature(obj)
    if kind == "class" and issubclass(obj, BaseException):
        bases = ", ".join(b.__name__ for b in obj.__bases__)
        out += [f"```python\nclass {name}({bases})\n```", ""]
    elif kind == "class":
        out += [f"```python\nclass {name}{signature}\n```", ""]
    else:
        prefix = "async " if inspect.iscoroutinefunction(obj) else ""
        out += [f"```python\n{prefix}def {name}{signature}\n```", ""]
    doc = _doc(obj)
    if doc:
        out += [_fence(doc), ""]
    if kind == "class":
        fields = _fields(obj)
        if fields:
            out += ["Fields: " + ", ".join(fields) + ".", ""]
        members = _members(obj)
        if members:
            out += ["Members:", ""]
            for member_name, value in members:
                out += _member_line(member_name, value)
            out += [""]
    example = EXAMPLES.get(f"{module}.{name}")
    if example and not _has_example(doc):
        out += ["Example:", "", "```python", example.strip("\n"), "```", ""]
    return out


def render() -> str:
    lines = [HEADER]
    for module_name in MODULES:
        module: ModuleType = importlib.import_module(module_name)
        lines += [f"## `{module_name}`", ""]
        first = (_doc(module).split("\n\n") or [""])[0]
        lines += [first, ""]
        for name in module.__all__:
            lines += _entry(module_name, name, getattr(module, name))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


def missing_examples() -> list[str]:
    """Public names with neither a docstring example nor one in EXAMPLES."""
    missing = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if not _has_example(_doc(getattr(module, name))) and f"{module_name}.{name}" not in EXAMPLES:
                missing.append(f"{module_name}.{name}")
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("docs/api.md is out of date: run python -m scripts.api_doc", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0




if __name__ == "__main__":
    sys.exit(main())
