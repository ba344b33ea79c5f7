"""``--profile DIR``: one cProfile per broker, test and side, summed over the rounds.

Each measurement runs under the profiler of its side; the files are written as
the measurements end: ``<broker>-<test>-<side>.prof`` (for ``pstats``,
snakeviz, ...) and ``.txt`` with the 40 functions of most own time. The
profiler slows every side, so the figures of a profiled run are not the ones
to publish; the profiles say where each side spends its time.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
from collections.abc import Iterator
from pathlib import Path

TOP = 40


class Profiles:
    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._profiles: dict[str, cProfile.Profile] = {}

    @contextlib.contextmanager
    def of(self, broker: str, test: str, side: str) -> Iterator[None]:
        name = f"{broker}-{test}-{side.replace(' ', '_')}"
        profile = self._profiles.setdefault(name, cProfile.Profile())
        profile.enable()
        try:
            yield
        finally:
            profile.disable()
            self._write(name, profile)

    def _write(self, name: str, profile: cProfile.Profile) -> None:
        profile.dump_stats(self.folder / f"{name}.prof")
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(TOP)
        (self.folder / f"{name}.txt").write_text(text.getvalue())
