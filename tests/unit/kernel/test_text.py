"""The refused characters are exactly Unicode's control characters and surrogates, by a second
method: the category of every code point."""

from __future__ import annotations

import sys
import unicodedata

from creditline.kernel.text import has_refused_characters


def test_every_code_point_is_judged_by_its_unicode_category() -> None:
    for code in range(sys.maxunicode + 1):
        character = chr(code)
        refused = unicodedata.category(character) in {"Cc", "Cs"}
        assert has_refused_characters(f"a{character}b") is refused, hex(code)
        multiline = refused and character not in "\n\t"
        assert has_refused_characters(character, multiline=True) is multiline, hex(code)


def test_text_without_them_passes() -> None:
    assert not has_refused_characters("额度 restored, 5000.00 CNY")
    assert not has_refused_characters("")
    assert has_refused_characters("line\nbreak")
    assert not has_refused_characters("line\nbreak\tand tab", multiline=True)
