"""The daily-bar sources by name, and :func:`get_loader`, the one way to pick a loader (the CLI's
``marketpipe load``, the Dagster ``loader`` resource)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from marketpipe.exceptions import ConfigError
from marketpipe.loaders.base import DailyLoader
from marketpipe.loaders.files import FileLoader
from marketpipe.loaders.stooq import StooqLoader
from marketpipe.loaders.tiingo import TiingoLoader
from marketpipe.settings import Settings

SOURCES = ("stooq", "tiingo", "file")


def get_loader(
    source: str, settings: Settings, *, path: Path | None = None, on_bad_symbol: Literal["raise", "skip"] = "raise"
) -> DailyLoader:
    """The loader called ``source`` ("stooq", "tiingo" or "file"; ``file`` needs ``path``).

    ``on_bad_symbol="skip"`` turns unknown symbols into rejects instead of a :class:`BadSymbolError`.
    """
    if source == "stooq":
        return StooqLoader.from_settings(settings, on_bad_symbol=on_bad_symbol)
    if source == "tiingo":
        return TiingoLoader.from_settings(settings, on_bad_symbol=on_bad_symbol)
    if source == "file":
        if path is None:
            raise ConfigError("the file loader needs a path (--file)")
        return FileLoader(Path(path), calendar=settings.daily_calendar, on_bad_symbol=on_bad_symbol)
    raise ConfigError(f"unknown daily-bar source {source!r}; expected one of {', '.join(SOURCES)}")
