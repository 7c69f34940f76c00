"""A/B of `creditline review` on one book: two versions of the code, each on its own copy.

    .venv/bin/python tools/review_ab.py load                       # the book, once (kept)
    git archive main src | tar -x -C /tmp/before                   # the version before
    for i in 1 2; do
      PYTHONPATH=/tmp/before/src .venv/bin/python tools/review_ab.py run before
      .venv/bin/python tools/review_ab.py run after
    done

`load` loads `bench/review_book.py`'s book (20,000 lines) into `creditline_rb_pristine`
and keeps it. `run NAME` copies it, reviews the copy as `creditline review` does
(`review_book`, then again an hour later), and prints one JSON line: wall and CPU seconds of
each, lines/s, the outcomes and the load average before and after; the copy is dropped. Run
the two versions in turn, in one session: the machine's load moves the absolute figures.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from creditline.bootstrap import build
from creditline.config import Settings, shipped_policy_file
from creditline.kernel.clock import FixedClock

# The bench's book and instants (bench/review_book.py; the version before may lack what the
# bench imports, so `run` does not import it).
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PRISTINE = "creditline_rb_pristine"
BENCH = Path(__file__).resolve().parent.parent / "bench"
LOADED_AT = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
REVIEWED_AT = LOADED_AT + dt.timedelta(hours=2)
REVIEWED_AGAIN_AT = LOADED_AT + dt.timedelta(hours=3)


def admin(sql: str) -> None:
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(sql))
    engine.dispose()


def load() -> None:
    sys.path.insert(1, str(BENCH))
    import review_book as rb
    from uncapped import uncapped_products

    url, _ = rb.fresh_database(ADMIN_URL, PRISTINE)
    settings = Settings(
        database_url=url,
        policy_file=shipped_policy_file(),
        review_triggers=False,
        products_file=uncapped_products(),
    )
    c = build(settings, FixedClock(LOADED_AT), migrate=True)
    loaded = rb.load_book(c, 20_000, rb.BookMix(0.10, 0.30, 0.02, 0.40), 6, 42)
    c.close()
    print(dict(loaded.kinds))


def timed(review: Callable[[], dict[str, int]]) -> tuple[float, float, dict[str, int]]:
    wall, cpu = time.perf_counter(), time.process_time()
    outcomes = review()
    return time.perf_counter() - wall, time.process_time() - cpu, outcomes


def run(name: str) -> None:
    database = f"creditline_rb_{name}_{os.getpid()}"
    admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{database}" TEMPLATE "{PRISTINE}"')
    url = make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)
    clock = FixedClock(REVIEWED_AT)
    settings = Settings(database_url=url, policy_file=shipped_policy_file(), review_triggers=False)
    c = build(settings, clock, migrate=False)
    try:
        c.decisions.ready()
        load_before = os.getloadavg()[0]
        wall, cpu, outcomes = timed(c.decisions.review_book)
        clock.set(REVIEWED_AGAIN_AT)
        again_wall, again_cpu, again = timed(c.decisions.review_book)
        figures = {
            "variant": name,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "lines_per_s": round(sum(outcomes.values()) / wall),
            "again_wall_s": round(again_wall, 2),
            "again_cpu_s": round(again_cpu, 2),
            "load": [load_before, os.getloadavg()[0]],
            "outcomes": outcomes,
            "again": again,
        }
        print(json.dumps(figures))
    finally:
        c.close()
        admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    if sys.argv[1:2] == ["load"]:
        load()
    elif sys.argv[1:2] == ["run"] and len(sys.argv) == 3:
        run(sys.argv[2])
    else:
        sys.exit(__doc__)
