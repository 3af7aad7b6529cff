"""Drive a server with wrk (Debian's package) and read req/s and latency percentiles."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}

# Unique GoHighLevel payloads of about 1 KB; a share of them repeat an earlier one of the thread.
LUA = r"""
local threads = {}
local next_id = 1
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end
function init(args)
  dup_ratio = tonumber(args[1])
  token = args[2]
  path = args[3]
  location = args[4]
  uniq = 0
  math.randomseed(tid * 7919)
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  pad = string.rep("x", 600)
end
function request()
  local n
  if dup_ratio > 0 and uniq > 0 and math.random() < dup_ratio then
    n = math.random(1, uniq)
  else
    uniq = uniq + 1
    n = uniq
  end
  local body = string.format(
    '{"contact_id":"c-%d-%d","first_name":"Jane","last_name":"Doe",' ..
    '"email":"jane.%d.%d@example.com","phone":"+1555%02d%06d",' ..
    '"date_created":"2026-01-18T10:00:00.000Z",' ..
    '"location":{"id":"%s"},"message":{"type":2,"body":"Yes I am interested %d %d"},' ..
    '"workflow":{"id":"wf_1"},"customData":{"Note":"%s"}}',
    tid, n, tid, n, tid, n, location, tid, n, pad)
  return wrk.format("POST", path, headers, body)
end
"""


@dataclass
class Result:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us: float | None = None  # the server's CPU time per request, when measured
    file_bytes: float | None = None  # what the database and its WAL grew by, per request


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run(
    url: str,
    path: str,
    *,
    seconds: int,
    connections: int,
    threads: int = 2,
    dup_ratio: float = 0.0,
    token: str = "none",
    location: str = "loc_bench",
) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "--timeout",
                "10s",
                "-s",
                script.name,
                url,
                "--",
                str(dup_ratio),
                token,
                path,
                location,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(script.name).unlink()
    return parse(out)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * _UNITS[unit]


def parse(out: str) -> Result:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return Result(rps, p50, p99, total, errors)
