"""Sale-condition eligibility: the shipped CTA/UTP table, combination rules, user tables, symbols."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from udfs.market.conditions import REGULAR, SESSIONS, ConditionTable, Eligibility
from udfs.market.reference import SymbolInfo, SymbolReference

HEADER = (
    "code,session,updates_open_close,updates_high_low,updates_volume,"
    "is_opening_print,is_closing_print,is_official_report,description\n"
)
VOLUME_ONLY = Eligibility(False, False, True, False, False, False)
NOTHING = Eligibility(False, False, False, False, False, True)
REGULAR_ROW = "@,all,true,true,true,false,false,false,Regular"


@pytest.fixture(scope="module")
def table() -> ConditionTable:
    return ConditionTable.default()


def write(tmp_path: Path, body: str, name: str = "conds.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def user_table(tmp_path: Path, *rows: str) -> ConditionTable:
    """A user table of the regular-sale row ``@`` and then ``rows``, loaded from its CSV file."""
    return ConditionTable.from_csv(write(tmp_path, "".join(f"{row}\n" for row in (REGULAR_ROW, *rows))))


def test_default_table_loads_every_required_code(table: ConditionTable) -> None:
    required = set("@ABCDEFGHIKLMNOPQRSTUVWXYZ") | set("1456789")
    assert required <= table.codes
    assert ConditionTable.default() is table  # cached


@pytest.mark.parametrize("conditions", ["@", "", None, " "])
@pytest.mark.parametrize("session", SESSIONS)
def test_regular_sale(table: ConditionTable, conditions: str | None, session: str) -> None:
    assert table.eligibility(conditions, session) == REGULAR


def test_odd_lot_counts_volume_only(table: ConditionTable) -> None:
    assert table.eligibility("I", "regular") == VOLUME_ONLY


@pytest.mark.parametrize("code", ["M", "Q"])
def test_official_reports_have_no_effect(table: ConditionTable, code: str) -> None:
    assert table.eligibility(code, "regular") == NOTHING
    assert table.eligibility(f"@ {code}", "post") == NOTHING  # AND kills updates, OR keeps the flag


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ("@ I", VOLUME_ONLY),
        ("F I", VOLUME_ONLY),
        ("@ F I", VOLUME_ONLY),
        ("O X", Eligibility(True, True, True, True, False, False)),
        ("6 X", Eligibility(True, True, True, False, True, False)),
        ("@ F", REGULAR),
        ("T I", VOLUME_ONLY),
        ("Z", Eligibility(False, True, True, False, False, False)),
        ("9", Eligibility(True, True, False, False, False, False)),
        ("9 I", Eligibility(False, False, False, False, False, False)),
    ],
)
def test_combining_codes_and_updates_or_flags(table: ConditionTable, conditions: str, expected: Eligibility) -> None:
    assert table.eligibility(conditions, "regular") == expected


def test_opening_and_closing_prints(table: ConditionTable) -> None:
    assert table.eligibility("O", "regular").opening_print
    assert table.eligibility("6", "regular").closing_print
    assert not table.eligibility("5", "regular").opening_print  # re-opening is not the open


def test_unknown_codes_take_fallback(table: ConditionTable) -> None:
    assert table.eligibility("@ ~", "regular") == VOLUME_ONLY
    assert table.unknown_codes("@ ~ F qq ~") == ["~", "qq"]
    assert table.unknown_codes(None) == []
    assert table.unknown_codes("@ F I") == []


def test_codes_are_case_sensitive(table: ConditionTable) -> None:
    assert table.unknown_codes("f") == ["f"]
    assert table.eligibility("f", "regular") == VOLUME_ONLY


def test_unknown_session_raises(table: ConditionTable) -> None:
    with pytest.raises(ValueError, match="session"):
        table.eligibility("@", "overnight")


def test_session_override_changes_that_session_only(tmp_path: Path) -> None:
    t = user_table(
        tmp_path,
        "T,all,false,false,true,false,false,false,Form T",
        "T,post,true,true,true,false,false,false,count Form T in post bars",
    )
    assert t.eligibility("T", "post") == REGULAR
    assert t.eligibility("T", "pre") == VOLUME_ONLY
    assert t.eligibility("T", "regular") == VOLUME_ONLY


def test_user_table_replaces_default(tmp_path: Path) -> None:
    t = user_table(
        tmp_path,
        "I,all,true,true,true,false,false,false,odd lots move prices here",
        "*,all,false,false,false,false,false,false,drop unknown prints",
    )
    assert t.eligibility("I", "regular") == REGULAR
    assert t.eligibility("F", "regular") == Eligibility(False, False, False, False, False, False)
    assert t.unknown_codes("@ F") == ["F"]
    assert ConditionTable.default().eligibility("I", "regular") == VOLUME_ONLY


def test_table_without_fallback_row_is_volume_only(tmp_path: Path) -> None:
    assert user_table(tmp_path).eligibility("Q", "pre") == VOLUME_ONLY


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("@,all,yes,true,true,false,false,false,x", "updates_open_close must be true or false"),
        ("@,overnight,true,true,true,false,false,false,x", "bad session"),
        ("@,all,true,true,true,false,false", "expected 9 fields"),
        (",all,true,true,true,false,false,false,x", "bad code"),
        ("M,all,false,false,true,false,false,true,x", "official report"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    path = write(tmp_path, "# a comment line\n@,regular,true,true,true,false,false,false,ok\n" + row + "\n")
    with pytest.raises(ValueError, match=message) as err:
        ConditionTable.from_csv(path)
    assert f"{path}:4:" in str(err.value)


def test_duplicate_row_and_bad_header(tmp_path: Path) -> None:
    dup = write(tmp_path, "@,all,true,true,true,false,false,false,a\n@,all,true,true,true,false,false,false,b\n")
    with pytest.raises(ValueError, match=r":3: duplicate"):
        ConditionTable.from_csv(dup)
    bad = tmp_path / "bad.csv"
    bad.write_text("code,session\n@,all\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.csv:1: header lacks"):
        ConditionTable.from_csv(bad)


def test_table_pickles(table: ConditionTable) -> None:
    table.eligibility("@ F", "regular")
    clone = pickle.loads(pickle.dumps(table))
    assert clone.codes == table.codes
    assert clone.eligibility("F I", "pre") == VOLUME_ONLY
    assert pickle.loads(pickle.dumps(REGULAR)) == REGULAR


def test_symbol_reference_default_and_unknown() -> None:
    ref = SymbolReference.default()
    assert ref.lookup("AAPL") == SymbolInfo("AAPL", "Q", "XNYS")
    assert ref.lookup("IBM") == SymbolInfo("IBM", "N", "XNYS")
    assert ref.lookup("SPY").listing_exchange == "P"
    assert ref.lookup("ZZZZ") == SymbolInfo("ZZZZ", None, "XNYS")


def test_default_symbols_cover_the_synthetic_feed() -> None:
    from marketpipe.feeds.synthetic import UNIVERSE

    ref = SymbolReference.default()
    assert all(ref.lookup(sym).listing_exchange is not None for sym, _, _ in UNIVERSE)


def test_symbol_reference_user_csv(tmp_path: Path) -> None:
    path = tmp_path / "symbols.csv"
    path.write_text("symbol,listing_exchange,calendar\nSHOP,N,XTSE\nFOO,,\n", encoding="utf-8")
    ref = SymbolReference.from_csv(path, default_calendar="XNAS")
    assert ref.lookup("SHOP") == SymbolInfo("SHOP", "N", "XTSE")
    assert ref.lookup("FOO") == SymbolInfo("FOO", None, "XNAS")
    assert ref.lookup("AAPL") == SymbolInfo("AAPL", None, "XNAS")
    path.write_text("symbol,listing_exchange,calendar\nSHOP,NYSE,\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"symbols.csv:2: listing_exchange"):
        SymbolReference.from_csv(path)
