"""The event loop of the long-running commands: uvloop when it is installed, else asyncio.

    from interlink._loop import run
    run(serve(...))          # like asyncio.run

uvloop comes with the gateway extra (``uvicorn[standard]``). Measured with
``python -m bench.gateway --compare-loops``, the gateway answers more requests per
second on it than on asyncio's loop (see docs/benchmarks.md); without it, asyncio
runs everything the same way, only slower.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    result: T = uvloop.run(coro)
    return result

