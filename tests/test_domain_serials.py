"""Cheque serials: the Damm check digit catches the typing mistakes people make."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.serials import (
    SERIAL_LENGTH,
    ChequeSerial,
    SerialError,
    booklet_serials,
    damm_digit,
    is_damm_valid,
    parse_serial,
)

serials = st.builds(
    ChequeSerial,
    programme_code=st.integers(1, 999),
    millesime=st.integers(1000, 9999),
    booklet_number=st.integers(1, 999_999),
    cheque_number=st.integers(1, 99),
)
# Any 15 digits with their check digit: the guarantee holds for every string, not only
# for well-formed serials.
bodies = st.text(alphabet="0123456789", min_size=SERIAL_LENGTH - 1, max_size=SERIAL_LENGTH - 1)


def _with_check(body: str) -> str:
    return body + str(damm_digit(body))


def _substitute(digits: str, position: int, digit: str) -> str:
    return digits[:position] + digit + digits[position + 1 :]


def _swap(digits: str, position: int) -> str:
    chars = list(digits)
    chars[position], chars[position + 1] = chars[position + 1], chars[position]
    return "".join(chars)


@given(serials)
def test_generated_serials_are_valid_and_sixteen_digits(serial: ChequeSerial) -> None:
    assert len(serial.digits) == SERIAL_LENGTH
    assert is_damm_valid(serial.digits)


@given(serials, st.integers(0, SERIAL_LENGTH - 1), st.integers(1, 9))
def test_every_single_digit_substitution_is_caught(
    serial: ChequeSerial, position: int, shift: int
) -> None:
    original = serial.digits
    wrong = str((int(original[position]) + shift) % 10)
    typed = _substitute(original, position, wrong)
    assert typed != original
    assert not is_damm_valid(typed)
    with pytest.raises(SerialError) as caught:
        parse_serial(typed)
    assert caught.value.code == "serial_check_digit"


@given(serials, st.integers(0, SERIAL_LENGTH - 2))
def test_every_adjacent_transposition_is_caught(serial: ChequeSerial, position: int) -> None:
    original = serial.digits
    typed = _swap(original, position)
    if typed == original:  # two equal digits: swapping them is no mistake
        return
    assert not is_damm_valid(typed)
    with pytest.raises(SerialError) as caught:
        parse_serial(typed)
    assert caught.value.code == "serial_check_digit"


@given(bodies, st.integers(0, SERIAL_LENGTH - 1), st.integers(1, 9))
def test_substitution_caught_on_any_sixteen_digits(body: str, position: int, shift: int) -> None:
    digits = _with_check(body)
    typed = _substitute(digits, position, str((int(digits[position]) + shift) % 10))
    assert not is_damm_valid(typed)


@given(bodies, st.integers(0, SERIAL_LENGTH - 2))
def test_transposition_caught_on_any_sixteen_digits(body: str, position: int) -> None:
    digits = _with_check(body)
    if digits[position] == digits[position + 1]:
        return
    assert not is_damm_valid(_swap(digits, position))


def test_exhaustive_on_one_serial() -> None:
    """Every one of the 16 x 9 substitutions and 15 swaps of a fixed serial is refused."""
    digits = ChequeSerial(12, 2021, 123, 4).digits
    for position in range(SERIAL_LENGTH):
        for digit in "0123456789":
            typed = _substitute(digits, position, digit)
            assert is_damm_valid(typed) == (typed == digits)
    for position in range(SERIAL_LENGTH - 1):
        typed = _swap(digits, position)
        assert is_damm_valid(typed) == (typed == digits)


@given(serials)
def test_parse_round_trips_digits_and_display(serial: ChequeSerial) -> None:
    assert parse_serial(serial.digits) == serial
    assert parse_serial(serial.display) == serial
    assert parse_serial(str(serial)) == serial


@given(serials, st.sampled_from([" ", "-", ".", "\u00a0", "\u202f", "  ", " - "]))
def test_parse_accepts_separators(serial: ChequeSerial, sep: str) -> None:
    d = serial.digits
    typed = sep.join([d[0:3], d[3:7], d[7:13], d[13:15], d[15]])
    assert parse_serial(f"  {typed}  ") == serial


def test_display_layout() -> None:
    serial = ChequeSerial(12, 2021, 123, 4)
    assert serial.display.startswith("012-2021-000123-04-")
    assert serial.display.replace("-", "") == serial.digits


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "serial_empty"),
        ("   ", "serial_empty"),
        (" - ", "serial_empty"),
        ("012-2021", "serial_malformed"),  # too short
        ("0122021000123047" + "1", "serial_malformed"),  # too long
        ("012-2021-00O123-04-7", "serial_malformed"),  # letter O for zero
        ("abcdefghijklmnop", "serial_malformed"),
        ("012/2021/000123/04/7", "serial_malformed"),  # unknown separator
    ],
)
def test_malformed_input_has_a_code_and_a_french_message(typed: str, code: str) -> None:
    with pytest.raises(SerialError) as caught:
        parse_serial(typed)
    assert caught.value.code == code
    assert caught.value.message
    assert str(caught.value) == caught.value.message


def test_too_short_says_how_many_digits() -> None:
    with pytest.raises(SerialError) as caught:
        parse_serial("0122021")
    assert "16 chiffres" in caught.value.message
    assert "7 ont été saisis" in caught.value.message


def test_valid_check_digit_but_impossible_fields() -> None:
    # Programme 000 or cheque 00 cannot exist even with a correct check digit.
    for body in ("000202100012304", "012202100012300"):
        with pytest.raises(SerialError) as caught:
            parse_serial(_with_check(body))
        assert caught.value.code == "serial_malformed"


@pytest.mark.parametrize(
    "fields",
    [(0, 2021, 1, 1), (1000, 2021, 1, 1), (12, 999, 1, 1), (12, 2021, 0, 1), (12, 2021, 1, 100)],
)
def test_serial_fields_are_bounded(fields: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        ChequeSerial(*fields)


def test_booklet_serials_are_numbered_and_distinct() -> None:
    booklet = booklet_serials(12, 2021, 42, 10)
    assert [s.cheque_number for s in booklet] == list(range(1, 11))
    assert len({s.digits for s in booklet}) == 10
    assert all(s.booklet_number == 42 and s.millesime == 2021 for s in booklet)


def test_digits_of_other_scripts_are_not_a_serial() -> None:
    """Python's isdigit() takes "²" or Arabic-Indic digits: a serial is ASCII digits only."""
    for typed in ("²" * SERIAL_LENGTH, "٠١٢٢٠٢٦٠٠٠١٢٣٠٤٧"[:SERIAL_LENGTH]):
        with pytest.raises(SerialError) as caught:
            parse_serial(typed)
        assert caught.value.code == "serial_malformed"
        assert not is_damm_valid(typed)
