"""Security codes: unguessable, typed forgivingly, a mistyped one told apart from a wrong
one; sealed at rest so that a database reader cannot spend a cheque."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.security_codes import (
    ALPHABET,
    CODE_LENGTH,
    CodeError,
    check_character,
    display_code,
    is_valid,
    new_code,
    parse_code,
    scan_text,
    split_line,
)
from domain.serials import ChequeSerial
from records.cheque_codes import CodeVault

bodies = st.text(alphabet=ALPHABET, min_size=CODE_LENGTH - 1, max_size=CODE_LENGTH - 1)
SERIAL = ChequeSerial(12, 2026, 123, 4).digits


def _code(body: str) -> str:
    return body + check_character(body)


@given(bodies, st.integers(0, CODE_LENGTH - 1), st.integers(1, len(ALPHABET) - 1))
def test_every_single_character_substitution_is_caught(body: str, at: int, shift: int) -> None:
    code = _code(body)
    wrong = ALPHABET[(ALPHABET.index(code[at]) + shift) % len(ALPHABET)]
    typed = code[:at] + wrong + code[at + 1 :]
    assert not is_valid(typed)
    with pytest.raises(CodeError) as caught:
        parse_code(typed)
    assert caught.value.code == "code_mistyped"


def test_adjacent_swaps_are_caught_but_for_one_pair_of_characters() -> None:
    """Luhn mod 32 misses only the swap of the one pair whose doubled values wrap alike
    (as Luhn mod 10 misses 09/90): every other swap of two neighbours is caught."""
    missed: set[frozenset[str]] = set()
    body_length = CODE_LENGTH - 1
    for at in range(body_length - 1):
        for a in ALPHABET:
            for b in ALPHABET:
                if a == b:
                    continue
                body = ["0"] * body_length
                body[at], body[at + 1] = a, b
                code = _code("".join(body))
                swapped = code[:at] + b + a + code[at + 2 :]
                if is_valid(swapped):
                    missed.add(frozenset((a, b)))
    assert len(missed) == 1, missed


@settings(max_examples=200)
@given(st.data())
def test_new_codes_are_valid_and_differ(data: st.DataObject) -> None:
    codes = {new_code() for _ in range(50)}
    assert len(codes) == 50  # 35 random bits: a repeat here would be a broken generator
    assert all(is_valid(c) and len(c) == CODE_LENGTH for c in codes)


def test_codes_are_typed_forgivingly() -> None:
    code = _code("A7KQ2MP")
    shown = display_code(code)
    assert shown == f"{code[:4]}-{code[4:]}"
    assert parse_code(shown.lower()) == code
    assert parse_code(f" {code[:4]} {code[4:]} ") == code
    # Crockford: O is read as 0, I and L as 1.
    zero = _code("0000001")
    assert parse_code(zero.replace("0", "O")) == zero
    one = _code("1111110")
    assert parse_code(one.replace("1", "l")) == one
    with pytest.raises(CodeError) as empty:
        parse_code("  ")
    assert empty.value.code == "code_missing"
    with pytest.raises(CodeError) as short:
        parse_code("A7KQ")
    assert short.value.code == "code_malformed" and "8 caractères" in short.value.message


def test_a_line_is_a_serial_then_its_code() -> None:
    code = new_code()
    for typed in (
        f"012-2026-000123-04-{SERIAL[-1]} {display_code(code)}",
        scan_text(SERIAL, code),  # what the barcode carries
        f"{SERIAL}\t{code.lower()}",
    ):
        line = split_line(typed)
        assert line.serial == SERIAL and parse_code(line.code) == code
    assert split_line(SERIAL).code == ""
    assert split_line("12345 ABC").serial == "12345 ABC"  # left whole: the parser says why


def test_sealed_codes_open_only_with_the_key_and_for_their_cheque() -> None:
    vault = CodeVault("a-test-key-of-at-least-thirty-two-characters")
    code = new_code()
    sealed = vault.seal(SERIAL, code)
    assert code not in sealed  # a database reader sees no code
    assert vault.seal(SERIAL, code) != sealed  # a fresh nonce each time
    assert vault.reveal(SERIAL, sealed) == code
    assert vault.matches(SERIAL, sealed, code)
    assert not vault.matches(SERIAL, sealed, new_code())
    # Copied onto another cheque, it does not open (the serial is authenticated).
    other = ChequeSerial(12, 2026, 123, 5).digits
    with pytest.raises(ValueError):
        vault.reveal(other, sealed)
    assert not vault.matches(other, sealed, code)
    # Tampered with, or opened with another key: refused.
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    assert not vault.matches(SERIAL, tampered, code)
    stranger = CodeVault("another-key-of-at-least-thirty-two-characters!")
    assert not stranger.matches(SERIAL, sealed, code)
    assert not vault.matches(SERIAL, None, code)


def test_key_rotation_keeps_older_codes_readable() -> None:
    old = CodeVault("the-first-key-of-at-least-thirty-two-characters")
    code = new_code()
    sealed = old.seal(SERIAL, code)
    rotated = CodeVault(
        "the-second-key-of-at-least-thirty-two-characters",
        previous=["the-first-key-of-at-least-thirty-two-characters"],
    )
    assert rotated.key_id != old.key_id
    assert rotated.reveal(SERIAL, sealed) == code
    resealed = rotated.seal(SERIAL, code)
    assert resealed.split(".")[1] == rotated.key_id
    with pytest.raises(ValueError):
        old.reveal(SERIAL, resealed)


def test_wrong_attempts_are_fingerprinted_not_stored() -> None:
    vault = CodeVault("a-test-key-of-at-least-thirty-two-characters")
    code = new_code()
    attempt = vault.attempt_id(SERIAL, code)
    assert attempt == vault.attempt_id(SERIAL, code) and code not in attempt
    assert attempt != vault.attempt_id(SERIAL, new_code())
    assert attempt != CodeVault("another-key-of-at-least-thirty-two-characters!").attempt_id(
        SERIAL, code
    )
