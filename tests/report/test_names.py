from __future__ import annotations

import pytest

from ctangel.report.names import FALLBACK_NAME, MAX_NAME_CHARS, UniqueNames, safe_name


@pytest.mark.parametrize("text", ["../../etc/passwd", "a\\b/c", "..", ".hidden", "<script>alert(1)</script>", "x\0y"])
def test_safe_names_hold_no_separator_and_no_dot_dot(text: str) -> None:
    name = safe_name(text)
    assert name and "/" not in name and "\\" not in name and ".." not in name and not name.startswith(".")
    assert all(c.isalnum() or c in "._-" for c in name)


def test_empty_and_reserved_names() -> None:
    assert safe_name("") == FALLBACK_NAME
    assert safe_name("///") == FALLBACK_NAME
    assert safe_name("CON") == "_CON"
    assert safe_name("1.2.840.113619") == "1.2.840.113619"


def test_long_ids_sharing_a_prefix_stay_apart() -> None:
    a, b = "1.2.840." + "9" * 100 + ".1", "1.2.840." + "9" * 100 + ".2"
    assert len(safe_name(a)) == MAX_NAME_CHARS
    assert safe_name(a) != safe_name(b)


def test_unique_names_ignore_case() -> None:
    names = UniqueNames()
    assert names.take("a/b") == "a_b"
    assert names.take("A:B") == "A_B-2"
    assert names.take("a_b", ".png") == "a_b.png"
    assert names.take("a_b", ".png") == "a_b-2.png"
