"""Which trades may move a bar: the consolidated-tape sale-condition eligibility rules.

Every US-equity trade report carries up to four sale-condition codes (``conditions`` on a tick,
space separated, e.g. ``"@ F I"``). The CTA (CTS) and UTP (UTDF) plans publish a matrix saying,
per code, whether such a trade may update the consolidated last sale (here: a bar's open/close),
the high/low and the volume. The shipped table (``data/conditions_cta_utp.csv``) encodes those
matrices; docs/conditions.md names the columns followed and where the two plans differ.

Combining codes follows the tape rule: a trade updates a field only if *every* one of its codes
allows it (AND), and it is an opening/closing print or official report if *any* code says so (OR).
A code missing from the table takes the ``*`` row, shipped as volume-only: an unrecognised print
never moves prices. Rows may be overridden per session (``pre``/``regular``/``post``).

:meth:`ConditionTable.eligibility` is called for every tick, so answers are cached by
``(conditions, session)``; a feed has a few dozen distinct condition strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from udfs.market.csvrows import read_rows

SESSIONS = ("pre", "regular", "post")
ALL = "all"
FALLBACK = "*"
REGULAR_SALE = "@"
COLUMNS = (
    "code",
    "session",
    "updates_open_close",
    "updates_high_low",
    "updates_volume",
    "is_opening_print",
    "is_closing_print",
    "is_official_report",
    "description",
)
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "conditions_cta_utp.csv"
_CACHE_LIMIT = 4096  # distinct (conditions, session) answers kept; cleared wholesale when full
_BOOLS = {"true": True, "false": False}


@dataclass(frozen=True, slots=True)
class Eligibility:
    """What one trade may do to a bar, after combining all of its condition codes."""

    open_close: bool  # may set the bar's open/close (last sale)
    high_low: bool  # may set high/low
    volume: bool  # counts in volume (and trade_count, and the VWAP numerator)
    opening_print: bool  # an opening auction print (code 'O' / opening cross)
    closing_print: bool  # a closing auction print (code '6')
    official_report: bool  # an official open/close REPORT (M, Q), not a trade: no price or volume effect


REGULAR = Eligibility(True, True, True, False, False, False)
# Used for unknown codes when a user table has no '*' row: same as the shipped '*' row.
VOLUME_ONLY = Eligibility(False, False, True, False, False, False)
_IDENTITY = REGULAR  # neutral element of the combination (AND on updates, OR on flags)


def combine(a: Eligibility, b: Eligibility) -> Eligibility:
    """The eligibility of a trade carrying the codes of both ``a`` and ``b`` (AND updates, OR flags)."""
    return Eligibility(
        a.open_close and b.open_close,
        a.high_low and b.high_low,
        a.volume and b.volume,
        a.opening_print or b.opening_print,
        a.closing_print or b.closing_print,
        a.official_report or b.official_report,
    )


def split_codes(conditions: str | None) -> list[str]:
    """The codes of a tick's ``conditions`` string; ``None`` or blank is a regular sale (``@``)."""
    codes = conditions.split() if conditions else []
    return codes or [REGULAR_SALE]


class ConditionTable:
    """Sale-condition code -> :class:`Eligibility`, per session, with a ``*`` fallback row."""

    def __init__(self, rows: dict[tuple[str, str], Eligibility], source: str = "<memory>") -> None:
        """``rows`` maps ``(code, session)`` to eligibility; session is ``all`` or one of SESSIONS."""
        self._setup(rows, source)

    def _setup(self, rows: dict[tuple[str, str], Eligibility], source: str) -> None:
        self.source = source
        self._rows = dict(rows)
        self._codes = frozenset(code for code, _ in rows if code != FALLBACK)
        self._cache: dict[tuple[str | None, str], Eligibility] = {}

    @classmethod
    def from_csv(cls, path: str | Path) -> ConditionTable:
        """Load a table in the documented CSV format; a bad row raises ValueError with file:line."""
        rows: dict[tuple[str, str], Eligibility] = {}
        for lineno, row in read_rows(path, COLUMNS):
            where = f"{path}:{lineno}"
            code, session = row["code"], row["session"]
            if not code or any(ch.isspace() for ch in code):
                raise ValueError(f"{where}: bad code {code!r} (non-empty, no spaces)")
            if session != ALL and session not in SESSIONS:
                raise ValueError(f"{where}: bad session {session!r} (all, {', '.join(SESSIONS)})")
            if (code, session) in rows:
                raise ValueError(f"{where}: duplicate row for code {code!r} session {session!r}")
            flags = [_parse_bool(row[c], c, where) for c in COLUMNS[2:8]]
            elig = Eligibility(*flags)
            if elig.official_report and (elig.open_close or elig.high_low or elig.volume):
                raise ValueError(f"{where}: an official report ({code!r}) may not update price or volume")
            rows[(code, session)] = elig
        return cls(rows, source=str(path))

    @classmethod
    def default(cls) -> ConditionTable:
        """The shipped CTA/UTP table (``data/conditions_cta_utp.csv``), loaded once per process."""
        return _default_table()

    @property
    def codes(self) -> frozenset[str]:
        """The codes the table knows (without the ``*`` fallback)."""
        return self._codes

    def eligibility(self, conditions: str | None, session: str) -> Eligibility:
        """What a trade with these ``conditions`` may do to a bar in ``session`` (cached)."""
        key = (conditions, session)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if session not in SESSIONS:
            raise ValueError(f"unknown session {session!r}; expected one of {SESSIONS}")
        result = _IDENTITY
        for code in split_codes(conditions):
            result = combine(result, self._code(code, session))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()  # a feed with garbage conditions must not grow memory without bound
        self._cache[key] = result
        return result

    def unknown_codes(self, conditions: str | None) -> list[str]:
        """Codes in ``conditions`` that the table does not list (they took the ``*`` row), in order."""
        return list(dict.fromkeys(c for c in split_codes(conditions) if c not in self._codes))

    def _code(self, code: str, session: str) -> Eligibility:
        rows = self._rows
        found = rows.get((code, session)) or rows.get((code, ALL))
        if found is None:
            found = rows.get((FALLBACK, session)) or rows.get((FALLBACK, ALL)) or VOLUME_ONLY
        return found

    def __getstate__(self) -> tuple[dict[tuple[str, str], Eligibility], str]:
        """Pickle the rows only; the answer cache is rebuilt on demand."""
        return self._rows, self.source

    def __setstate__(self, state: tuple[dict[tuple[str, str], Eligibility], str]) -> None:
        self._setup(*state)

    def __repr__(self) -> str:
        return f"ConditionTable({self.source!r}, {len(self._codes)} codes)"


def _parse_bool(text: str, column: str, where: str) -> bool:
    try:
        return _BOOLS[text.lower()]
    except KeyError:
        raise ValueError(f"{where}: {column} must be true or false, got {text!r}") from None


@cache
def _default_table() -> ConditionTable:
    return ConditionTable.from_csv(DEFAULT_PATH)
