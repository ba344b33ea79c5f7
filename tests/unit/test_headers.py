"""Ids and trace parents: well formed, never repeated, also across threads and a fork."""

from __future__ import annotations

import os
import re
import threading

import pytest

from interlink import _headers as h


def test_ids_are_32_hex_digits_and_distinct() -> None:
    ids = [h.new_id() for _ in range(5000)]  # more than one 4 KiB read of randomness
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_traceparent_starts_or_continues_a_trace() -> None:
    started = h.new_traceparent()
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", started)
    child = h.new_traceparent(started)
    assert child[:35] == started[:35] and child[36:52] != started[36:52]


def test_threads_never_share_an_id() -> None:
    found: list[list[str]] = [[] for _ in range(8)]

    def draw(out: list[str]) -> None:
        out.extend(h.new_id() for _ in range(2000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in found]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in found for i in out]
    assert len(set(every)) == len(every) == 16000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    h.new_id()  # the pool holds unread randomness now, which a child must not hand out again
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids, then leave at once
        os.write(write, "".join(h.new_id() for _ in range(4)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    parent = "".join(h.new_id() for _ in range(4))
    assert len(child) == len(parent) == 128
    assert child != parent
