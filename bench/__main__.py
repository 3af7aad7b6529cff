"""``python -m bench`` (``make bench``): every benchmark, one after the other."""

from __future__ import annotations

import sys

from bench import (
    _wrk,
    ai_client,
    ai_drain,
    ai_rows,
    growth,
    ingest,
    job_turns,
    jobs,
    postgres,
    telemetry,
)


def main() -> None:
    modules = (ingest, jobs, telemetry, ai_client, ai_rows, ai_drain, job_turns, growth, postgres)
    for module in modules:
        print(f"\n== {module.__name__}", flush=True)
        if module in (ingest, job_turns, growth, postgres) and not _wrk.have_wrk():
            print("skipped: wrk is not installed (apt-get install wrk)")
            continue
        sys.argv = [module.__name__]
        module.main()


if __name__ == "__main__":
    main()
