"""Downloads from the analytics pages: any table as CSV, the whole metric history as Parquet.

CSV, for spreadsheet users
--------------------------
* Encoding: UTF-8 **with a byte-order mark**. Excel (Windows and Mac) opens a BOM-less CSV in the machine's
  legacy code page, so the emoji, accents and non-Latin scripts that captions and handles are full of turn into
  mojibake; with the BOM it reads UTF-8. Google Sheets, LibreOffice, Numbers and ``pandas.read_csv(...,
  encoding="utf-8-sig")`` skip it. (A script reading with plain ``utf-8`` sees ``\\ufeff`` before the first
  header: use ``utf-8-sig``.) Rows end with CRLF (RFC 4180), which every spreadsheet reads.
* Formula injection: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
  formula by Excel, LibreOffice and Sheets (``=HYPERLINK(...)`` in a caption becomes a live link, ``+cmd|...``
  a DDE call). Such **text** cells, headers included, get a leading ``'``: spreadsheets then show the text as
  text (Excel hides the apostrophe). This is OWASP's advice and what Postiz's export does.
* Numbers stay numbers. Whether a cell is a number is decided by the value's type in the frame, never by how
  its text looks: ints, floats, decimals and booleans (numpy's too) are written as they are, so ``-3`` in a
  numeric column stays the number -3. A value held as text is text even when it looks numeric: ``"-2+3"`` or a
  phone number ``"+33 6 12"`` in a caption column is neutralised, because a spreadsheet would evaluate it.
  Dates and times are written in ISO form (they start with a digit). Anything else (a list of hashtags, a
  duration) is written as text and neutralised like text. NULL/NaN ("not available") is an empty cell, never 0.
* Times, as the screen shows them (`for_spreadsheet`): every moment column comes twice, ``published_at (UTC)``
  and ``published_at (Europe/Berlin)`` in the workspace's zone (``2026-12-04 10:30:00``, no offset, which
  spreadsheets read as a date and time); changes are rounded to one decimal (``change_pct``, ``change_pts``).

Parquet, for analysts
---------------------
``history_parquet`` writes every snapshot of one workspace as ONE file with a ``kind`` column (``post`` rows are
a delivery's metrics at ``taken_at``; ``followers`` rows are an account's follower count at ``taken_at``): one
download, one schema, ``WHERE kind = 'post'`` to split it. Columns that do not apply to a kind are NULL.
Rows come in the order the feed stored them, not sorted: sorting millions of rows by account and time more than
doubled the export's time and memory, and every tool that reads Parquet sorts on its own.
"""
from __future__ import annotations

import datetime as dt
import decimal
import numbers
import os
import re
import shutil
import tempfile
import unicodedata

import duckdb
import numpy as np
import pandas as pd

from core.analytics.schema import METRICS

#: The first characters that make a spreadsheet treat a cell as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

BOM = "\ufeff"

# Columns of history_parquet, in order (the README's data dictionary and the tests read this).
HISTORY_COLUMNS = (
    "kind", "taken_at", "platform", "account_id", "handle", "post_id", "delivery_id", "published_at",
    *METRICS, "followers", "is_demo",
)

_HISTORY_SQL = f"""
SELECT 'post' AS kind, s.taken_at, d.platform, d.account_id, a.handle, d.post_id, d.delivery_id, d.published_at,
       {", ".join(f"s.{m}" for m in METRICS)}, CAST(NULL AS BIGINT) AS followers, s.is_demo
FROM post_snapshots s
LEFT JOIN deliveries d ON d.dkey = s.dkey
LEFT JOIN accounts a ON a.akey = s.akey
WHERE s.wkey = (SELECT wkey FROM workspaces WHERE workspace_id = $ws)
UNION ALL
SELECT 'followers' AS kind, s.taken_at, a.platform, a.account_id, a.handle, NULL, NULL, CAST(NULL AS TIMESTAMPTZ),
       {", ".join("CAST(NULL AS BIGINT)" for _ in METRICS)}, s.followers, s.is_demo
FROM account_snapshots s
LEFT JOIN accounts a ON a.akey = s.akey
WHERE s.wkey = (SELECT wkey FROM workspaces WHERE workspace_id = $ws)
"""


def neutralise(text: str) -> str:
    """`text` made safe for a spreadsheet cell: a leading ``'`` when it would start a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _is_number(value: object) -> bool:
    # bool and numpy.bool_ are numbers for a spreadsheet (TRUE/FALSE); Decimal comes from DuckDB's SUM.
    return isinstance(value, (numbers.Number, decimal.Decimal, np.bool_)) and not isinstance(value, complex)


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and value != value  # NaN


def _cell(value: object) -> object:
    """One cell of a text-like column: numbers and instants pass, everything else becomes safe text."""
    if isinstance(value, (list, tuple, np.ndarray)):
        # A list cell (hashtags) reads better as "a b c" than as Python's repr.
        return neutralise(" ".join("" if _is_missing(v) else str(v) for v in value))
    if _is_missing(value):
        return None
    if _is_number(value) or isinstance(value, (dt.datetime, dt.date, pd.Timestamp)):
        return value
    return neutralise(str(value))


#: Columns of changes, rounded to one decimal in a spreadsheet (4.2773740021446445 -> 4.3).
ROUNDED = {"change_pct": 1, "change_pts": 1}


def for_spreadsheet(df: pd.DataFrame, tz_name: str) -> pd.DataFrame:
    """`df` as a spreadsheet user reads it: each UTC moment column as ``<name> (UTC)`` followed by
    ``<name> (<zone>)`` in local time, the screen's; changes rounded (`ROUNDED`)."""
    out = {}
    for column in df.columns:
        series = df[column]
        if series.dtype.kind == "M" and getattr(series.dt, "tz", None) is not None:
            out[f"{column} (UTC)"] = series.dt.tz_convert("UTC")
            if zone_is_utc(tz_name):
                continue
            local = series.dt.tz_convert(tz_name).dt.strftime("%Y-%m-%d %H:%M:%S")
            out[f"{column} ({tz_name})"] = local.where(series.notna(), None)
        elif column in ROUNDED and series.dtype.kind == "f":
            out[column] = series.round(ROUNDED[column])
        else:
            out[column] = series
    return pd.DataFrame(out, index=df.index)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """`df` as a CSV file for spreadsheets: UTF-8 with BOM, CRLF, formula cells neutralised (module docstring)."""
    frame = df
    if not isinstance(frame.index, pd.RangeIndex) or any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    out = {}
    for position, column in enumerate(frame.columns):
        series = frame.iloc[:, position]
        kind = series.dtype.kind
        if kind == "M" and str(getattr(series.dt, "tz", None)) in _UTC_NAMES:
            out[position] = _utc_text(series)
        elif kind in "biufcmM" and not isinstance(series.dtype, pd.CategoricalDtype):
            # Numbers, booleans and datetimes: written by pandas as they are. Durations ("m") can start with
            # "-" ("-1 days +02:00:00"), so they go through the text path.
            out[position] = series.map(_cell) if kind == "m" else series
        elif pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
            # Only text (the usual case): vectorised, 30x quicker than cell by cell on 100k rows.
            text = series.astype(object)
            risky = text.str.startswith(FORMULA_TRIGGERS, na=False).astype(bool)
            text = text.where(text.notna(), None)
            text[risky] = "'" + text[risky]
            out[position] = text
        else:
            out[position] = pd.Series([_cell(v) for v in series.tolist()], index=series.index, dtype=object)
    safe = pd.DataFrame(out)
    safe.columns = [neutralise(str(c)) for c in frame.columns]
    text = safe.to_csv(index=False, lineterminator="\r\n")
    return (BOM + text).encode("utf-8")


def zone_is_utc(tz_name: str) -> bool:
    return tz_name in _UTC_NAMES


_UTC_NAMES = {"UTC", "Etc/UTC", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", "GMT", "Etc/GMT"}


def _utc_text(series: pd.Series) -> pd.Series:
    """A UTC datetime column as pandas writes it (``2026-11-01 10:00:00+00:00``), 10x quicker: pandas formats
    a zoneinfo-zoned column (DuckDB's ``Etc/UTC``) one Timestamp at a time."""
    values = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    missing = np.isnat(values)
    micros = values[~missing].astype("int64")
    # The shortest unit that loses nothing, for the whole column (as pandas does).
    unit = "s" if (micros % 1_000_000 == 0).all() else "ms" if (micros % 1000 == 0).all() else "us"
    text = np.datetime_as_string(values, unit=unit).astype(object)
    out = pd.Series(text, index=series.index, dtype=object).str.replace("T", " ", regex=False) + "+00:00"
    return out.where(~missing, None)


def history_parquet(con: duckdb.DuckDBPyConnection, workspace_id: str) -> bytes:
    """The workspace's whole metric history (post and follower snapshots, one file with `kind`) as Parquet.

    Written by DuckDB's COPY to a private temporary directory, read back and removed. A workspace with no
    history yet gives a valid file with the columns and no rows.
    """
    folder = tempfile.mkdtemp(prefix="outpost-history-")
    try:
        path = os.path.join(folder, "history.parquet")
        quoted = path.replace("'", "''")
        con.execute(
            f"COPY ({_HISTORY_SQL}) TO '{quoted}' (FORMAT parquet, COMPRESSION zstd)", {"ws": workspace_id})
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def export_filename(workspace_name: str, what: str, ext: str, *, day: dt.date | None = None) -> str:
    """A download's file name: ``acme-marketing-post-table-2026-12-03.csv`` (ASCII, no spaces, no path)."""
    day = day or dt.datetime.now(dt.timezone.utc).date()
    parts = [_slug(workspace_name) or "workspace", _slug(what) or "export", day.isoformat()]
    return "-".join(parts) + "." + (_slug(ext) or "csv")


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-")
