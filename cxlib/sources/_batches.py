"""Reading a table in batches of text rows (:class:`RawBatches`), in file order."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


_WHOLE_ROWS = 1 << 24
"""Batch sizes from this many rows on read the whole relation as one frame."""


def _frame_of(batch: Any) -> pd.DataFrame:
    """A pandas frame of an Arrow record batch (or table) of text columns; a column without a
    value holds Python ``None`` objects, as in DuckDB's own frames."""
    chunk = batch.to_pandas()
    for i, name in enumerate(batch.schema.names):
        if batch.column(i).null_count == batch.num_rows:
            chunk[name] = pd.Series([None] * batch.num_rows, dtype=object, index=chunk.index)
    return chunk


def _prefetched(items: Iterator[Any], convert: Callable[[Any], Any]) -> Iterator[Any]:
    """``convert(item)`` for each item, in order, computed one item ahead on a second thread
    (for work that releases the GIL, such as DuckDB reading the next batch while pandas types
    the previous one). The thread stops when the consumer stops or fails."""
    import queue
    import threading

    box: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                put((True, convert(item)))
        except BaseException as exc:  # handed to the consumer
            put((False, exc))
        put((True, end))

    worker = threading.Thread(target=produce, name="cx-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = box.get()
            if not ok:
                raise item
            if item is end:
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _chunks(rel: Any, batch_rows: int) -> Iterator[pd.DataFrame]:
    """Frames of at most ``batch_rows`` rows from a DuckDB relation of text columns, in order;
    at least one (possibly empty, columns of Python objects) frame so that the columns are
    always known. A column without a value in a frame holds Python ``None`` objects, as in
    DuckDB's own frames.

    Rows come through Arrow record batches: their text columns become pandas ``str`` columns
    without a Python object per value (DuckDB's ``fetch_df_chunk`` makes one per value, then
    pandas converts them back, which took half of the time of typing a large table). The next
    batch is read on a second thread while the caller types the current one."""
    rows = max(1, -(-batch_rows // 2048)) * 2048  # whole vectors
    reader = rel.to_arrow_reader(min(rows, _WHOLE_ROWS))
    names = reader.schema.names
    empty = True
    if rows >= _WHOLE_ROWS:  # "everything at once" (read_raw): one frame of the whole table
        whole = reader.read_all()
        batches: Iterator[Any] = iter([whole] if whole.num_rows else [])
    else:
        batches = (batch for batch in reader if batch.num_rows)
    frames = _prefetched(batches, _frame_of)
    try:
        for chunk in frames:
            empty = False
            for start in range(0, len(chunk), batch_rows):
                yield chunk.iloc[start : start + batch_rows]
    finally:
        frames.close()  # stops the reading thread
    if empty:
        yield pd.DataFrame({name: pd.Series(dtype=object) for name in names})


class RawBatches:
    """Batches of a table as read (see :meth:`FolderSource.read_batches`).

    Iterating yields frames indexed by 1-based position among the lines that could be split
    into columns (the first frame's index starts at 1, the next continues). ``rejects`` are the
    malformed lines (``row_number``, ``raw_line``, ``reason``) and :meth:`row_numbers` turns
    positions into 1-based data-row numbers of the file.
    """

    def __init__(
        self,
        frames: Iterator[pd.DataFrame],
        rejects: pd.DataFrame,
        rows: int,
        batch_rows: int,
        cleanup: Path | None = None,
        numbers: np.ndarray | None = None,
    ):
        self._frames = frames
        self._numbers = numbers
        self.rejects = rejects
        self.rows = rows
        self.batch_rows = batch_rows
        self._cleanup = cleanup

    def __iter__(self) -> Iterator[pd.DataFrame]:
        pos = 0
        try:
            for frame in self._frames:
                if len(frame) > self.batch_rows:  # a source yielding larger frames: split
                    parts = [
                        frame.iloc[i : i + self.batch_rows]
                        for i in range(0, len(frame), self.batch_rows)
                    ]
                else:
                    parts = [frame]
                for part in parts:
                    part = part.copy(deep=False)
                    part.index = pd.RangeIndex(pos + 1, pos + 1 + len(part))
                    pos += len(part)
                    yield part
        finally:
            self.close()

    def close(self) -> None:
        """Stop reading (a reading thread ends) and delete the temporary file (if any)."""
        stop = getattr(self._frames, "close", None)
        if stop is not None:
            try:
                stop()
            except ValueError:  # the generator is running: it is the one closing us
                pass
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)
            self._cleanup = None

    def row_numbers(self, positions: Any) -> np.ndarray:
        """1-based data-row numbers in the file of 1-based ``positions``."""
        if self._numbers is not None:
            return self._numbers[np.asarray(positions, dtype="int64") - 1]
        pos = np.asarray(positions, dtype="int64")
        rejected = np.unique(self.rejects["row_number"].to_numpy(dtype="int64"))
        # good rows before the j-th rejected line: rejected[j] - 1 - j; a position p lies after
        # every rejected line with rejected[j] - j <= p
        return pos + np.searchsorted(rejected - np.arange(len(rejected)), pos, side="right")


def read_batches(source: Any, table: str, batch_rows: int) -> RawBatches:
    """Batches of ``table`` from any source: its own ``read_batches`` when it has one, else its
    ``read_raw`` (one frame, split into batches)."""
    own = getattr(source, "read_batches", None)
    if own is not None:
        return own(table, batch_rows)
    df, rejects = source.read_raw(table)
    idx = df.index
    numbered = pd.api.types.is_integer_dtype(idx) and (len(df) == 0 or idx.min() >= 1)
    numbers = idx.to_numpy(dtype="int64") if numbered else None
    return RawBatches(iter([df]), rejects, len(df), batch_rows, numbers=numbers)
