"""``interlink asyncapi MODULE:APP [--out FILE]``: the App's AsyncAPI 3.0 document.

JSON on stdout, or to ``--out`` (YAML when the file ends in ``.yaml``/``.yml``).
``servers`` comes from ``--broker`` / ``$INTERLINK_BROKER`` when given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from interlink._asyncapi import asyncapi_document
from interlink.cli._common import OK, Commands
from interlink.cli._run import load_app


def add(sub: Commands) -> None:
    p = sub.add_parser("asyncapi", help="print the AsyncAPI 3.0 document of an App (MODULE:APP)")
    p.add_argument("target", help="e.g. interlink.examples.taxi.app:app")
    p.add_argument("--out", default=None, help="write to FILE (YAML for .yaml/.yml) instead of stdout")
    p.add_argument("--app-version", default="1.0.0", help="info.version of the document")
    p.set_defaults(func=asyncapi)


async def asyncapi(args: argparse.Namespace) -> int:
    app = load_app(args.target)
    doc = asyncapi_document(app, args.broker or os.environ.get("INTERLINK_BROKER"), version=args.app_version)
    if args.out is None:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return OK
    out = Path(args.out)
    if out.suffix in (".yaml", ".yml"):
        import yaml

        out.write_text(yaml.safe_dump(doc, sort_keys=False))
    else:
        out.write_text(json.dumps(doc, indent=2) + "\n")
    return OK
