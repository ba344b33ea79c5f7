import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interlink import SubjectError
from interlink._subjects import check_name, check_pattern, check_subject, matches

token = st.from_regex(r"[A-Za-z0-9_-]{1,6}", fullmatch=True).filter(lambda t: t[0] not in "_")
subject = st.lists(token, min_size=1, max_size=5).map(".".join)


def reference_match(pattern: str, subject: str) -> bool:
    """An independent implementation: translate the pattern into a regular expression."""
    parts = []
    for tok in pattern.split("."):
        if tok == "*":
            parts.append(r"[^.]+")
        elif tok == ">":
            parts.append(r".+")
        else:
            parts.append(re.escape(tok))
    return re.fullmatch(r"\.".join(parts), subject) is not None


@st.composite
def pattern_for(draw: st.DrawFn) -> tuple[str, str]:
    s = draw(subject)
    tokens = s.split(".")
    out = [draw(st.sampled_from([t, "*", t + "x"])) for t in tokens]
    if draw(st.booleans()):
        cut = draw(st.integers(min_value=0, max_value=len(out) - 1))
        out = [*out[:cut], ">"]
    return ".".join(out), s


@given(pattern_for())
def test_matches_agrees_with_regex_reference(case: tuple[str, str]) -> None:
    pattern, s = case
    check_pattern(pattern)
    assert matches(pattern, s) == reference_match(pattern, s)


@given(subject)
def test_valid_subjects_pass_and_match_themselves(s: str) -> None:
    assert check_subject(s) == s
    assert matches(s, s)
    assert matches(">", s)


@pytest.mark.parametrize("bad", ["", ".", "a.", ".a", "a..b", "a b", "a/b", "é", "_x", "$SYS", "a.*", "x" * 256])
def test_bad_subjects(bad: str) -> None:
    with pytest.raises(SubjectError):
        check_subject(bad)


@pytest.mark.parametrize("bad", ["a.>.b", "a.b*", ">x", "", "a..*"])
def test_bad_patterns(bad: str) -> None:
    with pytest.raises(SubjectError):
        check_pattern(bad)


def test_greater_than_needs_at_least_one_token() -> None:
    assert not matches("a.>", "a")
    assert matches("a.>", "a.b.c")
    assert not matches("a.*", "a.b.c")


def test_service_names_are_single_tokens() -> None:
    assert check_name("trip-management") == "trip-management"
    for bad in ("a.b", "_a", "", "a*"):
        with pytest.raises(SubjectError):
            check_name(bad)
    with pytest.raises(SubjectError):
        check_name(42)
