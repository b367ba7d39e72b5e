"""Behaviour tests added for mutation testing (tests/README.md "Mutation testing") of ``mbrnn.text``."""

from mbrnn import text


def test_a_note_of_non_ascii_whitespace_is_blank_with_no_tokens():
    for scheme in text.SCHEMES:
        assert text.prepare_notes([" \u00a0\u2003\n".encode(), b"ok 1 \xc3\xa9t\xc3\xa9"], scheme)[:2] == (
            [None, "ok été".encode() if scheme == "caml" else "ok 1 été".encode()],
            [0, 2 if scheme == "caml" else -1])
