"""Provider codes -> the codes our ticks carry: exchange letters and SIP sale-condition letters.

The tables are data (``udfs/market/data/massive_*.csv``, docs/collectors.md); a code a table does not
map goes out as ``<provider>:<code>``, so the bars job dead-letters it as ``unknown_condition`` instead
of guessing what it means. A table row whose code is ``-`` (:data:`DROP`) marks an indicator that carries
no sale condition and changes no bar eligibility (Trade Thru Exempt, short-sale-restriction states): it is
left out of the tick's conditions. Alpaca already sends SIP letters; only the CTS tapes' few raw letters that
differ from the UTP letters of our condition table are translated (:data:`ALPACA_CTS_TO_UTP`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from udfs.market.conditions import DEFAULT_PATH
from udfs.market.csvrows import read_rows

DATA_DIR = DEFAULT_PATH.parent  # udfs/market/data, shipped as package data beside the condition table
MASSIVE_CONDITIONS = DATA_DIR / "massive_conditions.csv"
MASSIVE_EXCHANGES = DATA_DIR / "massive_exchanges.csv"

# Tapes A and B are disseminated by CTA's CTS, which uses three letters differently from UTP (tape C)
# and from our condition table (docs/conditions.md): a blank for a regular sale, B for Average Price Trade
# (UTP W) and E for Automatic Execution (an ordinary, fully eligible trade in the CTS matrix: UTP @).
DROP = "-"  # a table code: an indicator id, left out of the tick's conditions

ALPACA_CTS_TAPES = frozenset({"A", "B"})
ALPACA_CTS_TO_UTP = {"": "@", "B": "W", "E": "@"}


@dataclass(frozen=True)
class CodeMap:
    """Integer provider ids -> our codes; unmapped ids become ``<prefix>:<id>``."""

    prefix: str
    codes: dict[int, str]
    source: str = "<memory>"

    def code(self, provider_id: object) -> str:
        """Our code for one provider id (an unknown or non-integer id keeps its value, prefixed)."""
        if isinstance(provider_id, int) and not isinstance(provider_id, bool):
            found = self.codes.get(provider_id)
            if found:
                return found
        return f"{self.prefix}:{provider_id}"

    def codes_of(self, provider_ids: Iterable[object] | None) -> str | None:
        """A tick's ``conditions``: the ids' codes in order, duplicates removed, space separated."""
        if not provider_ids:
            return None
        codes = (self.code(i) for i in provider_ids)
        return " ".join(dict.fromkeys(c for c in codes if c != DROP)) or None

    @classmethod
    def from_csv(cls, path: str | Path, prefix: str, code_column: str) -> CodeMap:
        """Load ``id,<code_column>[,...]``; an empty code leaves the id unmapped. Bad rows raise ValueError."""
        codes: dict[int, str] = {}
        for lineno, row in read_rows(path, ("id", code_column)):
            try:
                provider_id = int(row["id"])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: id must be an integer, got {row['id']!r}") from None
            if provider_id in codes:
                raise ValueError(f"{path}:{lineno}: duplicate id {provider_id}")
            code = row[code_column]
            if any(ch.isspace() for ch in code):
                raise ValueError(f"{path}:{lineno}: code {code!r} contains a space")
            if code:
                codes[provider_id] = code
        return cls(prefix, codes, str(path))


@cache
def massive_conditions() -> CodeMap:
    """The shipped Massive condition-id table."""
    return CodeMap.from_csv(MASSIVE_CONDITIONS, "massive", "sip_code")


@cache
def massive_exchanges() -> CodeMap:
    """The shipped Massive exchange-id table."""
    return CodeMap.from_csv(MASSIVE_EXCHANGES, "massive", "code")


def alpaca_conditions(codes: Iterable[object] | None, tape: object) -> str | None:
    """A tick's ``conditions`` from an Alpaca trade's ``c`` list and tape ``z``.

    Codes are SIP letters already; on the CTS tapes (A, B) the raw CTS letters are translated to the UTP
    letters our table uses. A blank code means "regular sale" on CTS and nothing on UTP.
    """
    if not codes:
        return None
    cts = tape in ALPACA_CTS_TAPES
    out: list[str] = []
    for raw in codes:
        code = str(raw).strip()
        if cts:
            code = ALPACA_CTS_TO_UTP.get(code, code)
        if code and code not in out:
            out.append(code)
    return " ".join(out) or None
