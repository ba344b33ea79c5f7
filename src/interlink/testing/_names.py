from __future__ import annotations

import uuid


def unique(prefix: str = "t") -> str:
    """A fresh, valid subject token such as ``t3f9a1c2e``: tests on a shared broker never collide."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"
