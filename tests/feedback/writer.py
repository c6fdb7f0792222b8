"""A writer process: `python -m tests.feedback.writer TARGET WRITER COUNT [SYNC]`.

TARGET is a SQLite file or a postgresql:// URL. Prints each id on its own line only after `save`
has returned (i.e. committed), then flushes, so a parent that kills this process knows which rows
must be in the database.
"""

from __future__ import annotations

import sys

from medgemma_ui.feedback import FeedbackStore
from medgemma_ui.feedback.store import is_postgres_url
from tests.feedback.factory import make_record


def main(argv: list[str]) -> int:
    target, writer, count = argv[0], int(argv[1]), int(argv[2])
    if is_postgres_url(target):
        store = FeedbackStore(target)
    else:
        sync = argv[3] if len(argv) > 3 else "FULL"
        store = FeedbackStore(target, synchronous=sync)
    for i in range(count):
        record_id = store.save(make_record(writer, i))
        sys.stdout.write(record_id + "\n")
        sys.stdout.flush()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
