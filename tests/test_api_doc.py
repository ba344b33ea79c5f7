"""docs/api.md is generated from the public names; it must match the code (python -m scripts.api_doc)."""

from __future__ import annotations

import importlib

from scripts import api_doc


def test_docs_api_md_is_up_to_date() -> None:
    assert api_doc.TARGET.read_text() == api_doc.render(), "docs/api.md is out of date: run python -m scripts.api_doc"


def test_every_public_name_has_an_entry_and_an_example() -> None:
    text = api_doc.TARGET.read_text()
    for module_name in api_doc.MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            assert f"### `{module_name}.{name}`" in text
    assert api_doc.missing_examples() == []
