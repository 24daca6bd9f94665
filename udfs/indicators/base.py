"""Base class shared by every streaming indicator.

An indicator consumes one value at a time, keeps O(1) state and answers ``None`` until it
has seen enough input ("warm-up"). Its state is a dict of plain Python values (ints, floats,
None, nested dicts) so it can be pickled into Flink ``ValueState`` and survive refactors of
the classes themselves.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Generic, Self, TypeVar

T = TypeVar("T")

State = dict[str, Any]


class Indicator(ABC, Generic[T]):
    """One streaming indicator: ``update(x)`` returns the new value, or ``None`` while warming up."""

    @abstractmethod
    def update(self, x: float) -> T | None:
        """Feed the next input; return the indicator value after it (``None`` during warm-up)."""

    #: The value after the last update, kept by the subclass (``None`` during warm-up).
    _value: T | None

    @property
    def value(self) -> T | None:
        """The value after the last update (``None`` during warm-up)."""
        return self._value

    @property
    def is_warm(self) -> bool:
        """Whether the indicator has produced a value."""
        return self.value is not None

    @abstractmethod
    def reset(self) -> None:
        """Forget all input, as if newly constructed with the same parameters."""

    @abstractmethod
    def state(self) -> State:
        """Parameters and running state as plain Python values (picklable, JSON-friendly)."""

    @abstractmethod
    def _load(self, state: Mapping[str, Any]) -> None:
        """Set parameters and running state from :meth:`state` output."""

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild an indicator from :meth:`state` output."""
        obj = cls.__new__(cls)
        obj._load(state)
        return obj

    def __getstate__(self) -> State:
        return self.state()

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self._load(state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.state()!r})"


def finite(x: float) -> float:
    """Return ``x`` as a float, or raise ``ValueError`` for NaN, infinities and non-numbers.

    Indicators are recursive: one NaN would poison every later value, so it is refused before
    any state changes.
    """
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"indicator input must be finite, got {x!r}")
    return v


def check_period(name: str, period: int, minimum: int = 1) -> int:
    """Validate an integer period parameter."""
    if isinstance(period, bool) or not isinstance(period, int) or period < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {period!r}")
    return period
