"""SQLite's WAL checkpoints on a thread of their own, off the requests' path (docs/decisions/0029).

In WAL mode with `synchronous=NORMAL` a COMMIT does not sync; the checkpoint does (the WAL, then
the database file: two fsyncs, milliseconds each). SQLite runs it inside the COMMIT that takes
the WAL past `wal_autocheckpoint` pages, so every sixtieth hold or so waited for it. Request
connections now check-point only as a safety net, far later (`WAL_AUTOCHECKPOINT_PAGES`, for a
process whose thread is not running), and this thread runs `PRAGMA wal_checkpoint(PASSIVE)`
every `CHECKPOINT_INTERVAL_SECONDS` or after `CHECKPOINT_AFTER_COMMITS` committed use cases,
whichever comes first. A passive checkpoint never blocks writers. The count keeps what a power
loss may roll back to about what SQLite's default allowed (1,000 pages, ~60 holds).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_SECONDS = 0.2
CHECKPOINT_AFTER_COMMITS = 64  # ~16 WAL pages a hold: about SQLite's default 1,000 pages
# Request connections' own threshold: only reached when this thread is behind or not running.
WAL_AUTOCHECKPOINT_PAGES = 10_000
SQLITE_AUTOCHECKPOINT_PAGES = 1_000  # SQLite's default: checkpoints inside the commits


class Checkpointer:
    """Checkpoints one SQLite database from a daemon thread, started by the first commit."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._commits = 0  # since the last checkpoint; a plain int: the GIL makes += safe enough
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.checkpoints = 0  # how many ran (tests, benches)

    def committed(self, works: int) -> None:
        """`works` use cases just committed: check-point soon."""
        self._commits += works
        if self._thread is None:
            self._start()
        # Once: until the thread runs, every commit would set it again (a lock and a notify).
        if self._commits >= CHECKPOINT_AFTER_COMMITS and not self._wake.is_set():
            self._wake.set()

    def close(self) -> None:
        """Stop the thread after a last checkpoint."""
        self._stopped.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None or self._stopped.is_set():
                return
            thread = threading.Thread(target=self._loop, name="sqlite-checkpoints", daemon=True)
            self._thread = thread
            try:
                thread.start()
            except RuntimeError:  # no thread to be had: the commits' own safety net remains
                log.warning("no thread for WAL checkpoints", exc_info=True)

    def _loop(self) -> None:
        connection: Any = None
        try:
            while True:
                self._wake.wait(CHECKPOINT_INTERVAL_SECONDS)
                self._wake.clear()
                stopping = self._stopped.is_set()
                if self._commits:
                    self._commits = 0
                    connection = connection or self._engine.raw_connection()
                    self._checkpoint(connection)
                if stopping:
                    return
        finally:
            if connection is not None:
                connection.close()

    def _checkpoint(self, connection: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.fetchall()
            self.checkpoints += 1
        except Exception:
            # Nothing is lost: the WAL keeps every commit, and the next tick tries again.
            log.warning("WAL checkpoint failed; trying again shortly", exc_info=True)
        finally:
            cursor.close()
