"""``interlink new NAME``: lay out a service project whose test passes on memory and on a real broker.

    NAME/
      pyproject.toml          interlink as dependency, pytest + pytest-asyncio as the test extra
      README.md               how to run it, test it, and test it on a real broker
      src/PACKAGE/__init__.py
      src/PACKAGE/service.py  a Service with an endpoint and a subscription that publishes its result
      tests/test_service.py   tests through interlink.testing's fixtures and harness
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from interlink.cli._common import FAILED, OK, USAGE, Commands, console, errors, print_json

_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}\Z")


def add(sub: Commands) -> None:
    p = sub.add_parser("new", help="lay out a new service project (package, pyproject, tests)")
    p.add_argument("name", help="the service name: lower-case letters, digits and '-', starting with a letter")
    p.add_argument("--dir", default=".", help="where to create the NAME folder (default: here)")
    p.set_defaults(func=new)


def files(name: str) -> dict[str, str]:
    """The project's files, by path relative to its folder."""
    package = name.replace("-", "_")
    values = {"name": name, "package": package, "subject": name.replace("-", "_")}
    return {path.format(**values): text.format(**values) for path, text in _TEMPLATES.items()}


async def new(args: argparse.Namespace) -> int:
    name = args.name
    if not _NAME.match(name):
        errors.print(f"[bold red]error:[/] {name!r} is not a service name: use lower-case letters, digits "
                     "and '-', starting with a letter")
        return USAGE
    root = Path(args.dir) / name
    if root.exists():
        errors.print(f"[bold red]error:[/] {root} already exists")
        return FAILED
    written = []
    for relative, text in files(name).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(relative)
    if args.json:
        print_json({"created": str(root), "files": written})
    else:
        console.print(f"created {root}: " + ", ".join(written))
        console.print(f"next: cd {root} && pip install -e '.[test]' && pytest", markup=False)
    return OK


_TEMPLATES = {
    "pyproject.toml": '''[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["interlink"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-asyncio>=0.23"]

[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[tool.pytest.ini_options]
# strict works too: the tests are marked @pytest.mark.asyncio
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
testpaths = ["tests"]
''',
    "README.md": '''# {name}

An interlink service.

    pip install -e '.[test]'
    interlink run {package}.service:app          # on $INTERLINK_BROKER, else the embedded broker
    pytest                                       # on a fresh in-memory broker per test
    pytest --interlink-broker nats://127.0.0.1:4222   # the same tests on a real broker, names isolated per test
''',
    "src/{package}/__init__.py": '''"""The {name} service."""
''',
    "src/{package}/service.py": '''"""The {name} service: an endpoint, and a subscription publishing its result."""

from __future__ import annotations

import msgspec

from interlink import App, Service, ServiceError


class Greeting(msgspec.Struct):
    name: str


service = Service("{name}", version="0.1.0")


@service.endpoint("{subject}.hello")
async def hello(greeting: Greeting) -> str:
    if not greeting.name:
        raise ServiceError("invalid_name", "a name is needed")
    return f"hello, {{greeting.name}}"


@service.subscribe("{subject}.joined", publish="{subject}.welcomed")
async def welcome(greeting: Greeting) -> dict[str, str]:
    return {{"welcomed": greeting.name}}


app = App("{name}", services=[service])
''',
    "tests/test_service.py": '''"""Tests of {name} (``pytest --interlink-broker URL`` runs them on a real broker)."""

from __future__ import annotations

import pytest

import interlink
from interlink.testing import Harness
from {package}.service import app

pytestmark = pytest.mark.asyncio


async def test_hello_answers(interlink_bus: interlink.Bus) -> None:
    await app.serve(interlink_bus)
    assert await interlink_bus.request("{subject}.hello", {{"name": "ada"}}) == "hello, ada"


async def test_an_empty_name_is_refused(interlink_bus: interlink.Bus) -> None:
    await app.serve(interlink_bus)
    with pytest.raises(interlink.RemoteError) as err:
        await interlink_bus.request("{subject}.hello", {{"name": ""}})
    assert err.value.code == "invalid_name"


async def test_joining_publishes_a_welcome(interlink_bus: interlink.Bus, interlink_harness: Harness) -> None:
    await app.serve(interlink_bus)
    await interlink_bus.publish("{subject}.joined", {{"name": "ada"}})
    await interlink_harness.settled()
    assert (await interlink_harness.published("{subject}.welcomed")).body == {{"welcomed": "ada"}}
''',
}
