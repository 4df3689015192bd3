"""``map_exceptions``: how a store turns its driver's errors into ours.

Store authors use it (``agentsession.store``) around every driver call, as
a ``with`` block or as a decorator; these pin what it lets through and
what it translates.
"""

from __future__ import annotations

import sqlite3

import pytest

from agentsession import AgentSessionError, IntegrityError, SessionNotFound, StoreUnavailable
from agentsession.store import map_exceptions

Mapping = dict[type[BaseException], type[AgentSessionError]]
MAPPING: Mapping = {sqlite3.IntegrityError: IntegrityError, sqlite3.Error: StoreUnavailable}
# Would translate anything it is handed: what passes through it, it let through.
EVERYTHING: Mapping = {**MAPPING, BaseException: StoreUnavailable}


def test_a_driver_error_becomes_the_first_matching_class_with_its_cause() -> None:
    cause = sqlite3.IntegrityError("UNIQUE constraint failed")
    with pytest.raises(IntegrityError) as caught, map_exceptions(MAPPING):
        raise cause
    assert caught.value.__cause__ is cause
    assert str(caught.value) == "IntegrityError: UNIQUE constraint failed"
    # a subclass matches a later, wider key when an earlier one does not fit
    with pytest.raises(StoreUnavailable), map_exceptions(MAPPING):
        raise sqlite3.OperationalError("disk I/O error")


def test_where_names_the_back_end_of_an_unavailable_store() -> None:
    where = map_exceptions(MAPPING, where=lambda: "127.0.0.1:6379")
    with pytest.raises(StoreUnavailable) as caught, where:
        raise sqlite3.OperationalError("connection refused")
    assert caught.value.hint == "127.0.0.1:6379"
    with pytest.raises(IntegrityError) as other, where:  # not a StoreUnavailable: no hint
        raise sqlite3.IntegrityError("x")
    assert getattr(other.value, "hint", None) != "127.0.0.1:6379"


@pytest.mark.parametrize(
    ("error", "mapping"),
    [
        (SessionNotFound(), EVERYTHING),  # ours already
        (KeyboardInterrupt(), EVERYTHING),  # not an Exception: never translated
        (ValueError("not a driver error"), MAPPING),  # no key matches
    ],
    ids=["ours", "base-exception", "unmapped"],
)
def test_other_errors_pass_through_untouched(error: BaseException, mapping: Mapping) -> None:
    with pytest.raises(type(error)) as caught, map_exceptions(mapping):
        raise error
    assert caught.value is error
    assert caught.value.__cause__ is None


def test_no_error_is_no_change() -> None:
    with map_exceptions(MAPPING) as entered:
        value = 41 + 1
    assert entered is None
    assert value == 42


def test_it_decorates_a_function_and_can_be_entered_again() -> None:
    calls: list[int] = []

    @map_exceptions(MAPPING)
    def read(n: int) -> int:
        calls.append(n)
        if n < 0:
            raise sqlite3.OperationalError("database is locked")
        return n * 2

    assert read(3) == 6
    with pytest.raises(StoreUnavailable):
        read(-1)
    assert read(4) == 8  # the same object entered a third time
    assert calls == [3, -1, 4]
