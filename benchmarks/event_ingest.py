"""Event ingest over HTTP: sustained events/s through POST /api/v1/events/, then proof that every
acknowledged event is stored exactly once.

    python benchmarks/event_ingest.py --data .data/hm-week          (make bench-ingest)

The store runs as the demo runs it (gunicorn, 3 workers x 3 threads; see http_load.py). wrk posts
batches of --batch view events (each with its own client event_id) for --seconds from each number
of --connections; every fifth request re-sends the previous batch, as a phone that lost the answer
does, so retries race the original. A Lua hook adds up what the server acknowledged ("accepted" and
"duplicates" of each 201). Then the database is asked: the rows of this run (marked in their row
field) must number exactly the accepted events, with no event_id twice, and none may be missing.
The run's events and the visitors it created are deleted at the end, so the data folder is left as
it was found. Load goes to this machine only.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from http_load import PORT, ROOT, _start_store, _wait_until_up

LUA = r"""
local products = %(products)s
local visitors = %(visitors)s
local batch = %(batch)d
local run = "%(run)s"
local marker = "%(marker)s"
local now = "%(now)s"
local threads = {}
local counter = 0
local last_body = nil
local last_visitor = nil

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  accepted, duplicates, retries, failed, events_sent = 0, 0, 0, 0, 0
end

local function post(body, visitor)
  local headers = {["Content-Type"] = "application/json", ["X-Visitor-Id"] = visitor}
  return wrk.format("POST", "/api/v1/events/", headers, body)
end

function request()
  counter = counter + 1
  if last_body ~= nil and counter %% 5 == 0 then  -- a retry of the previous batch
    retries = retries + 1
    return post(last_body, last_visitor)
  end
  local parts = {}
  for i = 1, batch do
    local n = counter * batch + i
    parts[i] = string.format(
      '{"event_id":"%%s-%%04x-4000-8000-%%012x","product":%%d,"kind":"view","occurred_at":"%%s","row":"%%s"}',
      run, tid, n, products[(n %% #products) + 1], now, marker)
  end
  events_sent = events_sent + batch
  last_body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  last_visitor = visitors[(counter %% #visitors) + 1]
  return post(last_body, last_visitor)
end

function response(status, headers, body)
  if status == 201 then
    accepted = accepted + tonumber(string.match(body, '"accepted":%%s*(%%d+)'))
    duplicates = duplicates + tonumber(string.match(body, '"duplicates":%%s*(%%d+)'))
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local a, d, r, f, s = 0, 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    a = a + thread:get("accepted")
    d = d + thread:get("duplicates")
    r = r + thread:get("retries")
    f = f + thread:get("failed")
    s = s + thread:get("events_sent")
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "seconds": %%.3f, "p50_ms": %%.2f, "p95_ms": %%.2f, "p99_ms": %%.2f, ' ..
    '"accepted": %%d, "duplicates": %%d, "retries": %%d, "failed": %%d, "events_sent": %%d, ' ..
    '"socket_errors": %%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, a, d, r, f, s,
    errors.connect + errors.read + errors.write + errors.timeout))
end
"""

COUNT = """
import json
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*), count(DISTINCT event_id) FROM recommendations_interaction WHERE source_row = %s",
                   [ARGUMENT])
    rows, distinct = cursor.fetchone()
print("COUNT_JSON " + json.dumps({"rows": rows, "distinct": distinct}))
"""

CLEAN = """
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT DISTINCT visitor_id FROM recommendations_interaction WHERE source_row LIKE %s",
                   [ARGUMENT + "%"])
    visitors = [row[0] for row in cursor.fetchall()]
    cursor.execute("DELETE FROM recommendations_interaction WHERE source_row LIKE %s", [ARGUMENT + "%"])
    events = cursor.rowcount
    cursor.execute("DELETE FROM recommendations_visitor v WHERE v.id = ANY(%s) AND v.user_id IS NULL AND NOT EXISTS "
                   "(SELECT 1 FROM recommendations_interaction i WHERE i.visitor_id = v.id)", [visitors])
    print(f"Removed this run's {events:,} events and {cursor.rowcount} visitors.")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the data folder to serve and count in (its servers are started)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", default="1,10,50")
    parser.add_argument("--batch", type=int, default=50, help="events per request (at most API_MAX_EVENTS_PER_BATCH)")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (or make bench-ingest).")
    data = Path(args.data).resolve()
    url = f"http://127.0.0.1:{PORT}"
    assert urlparse(url).hostname == "127.0.0.1"
    run = uuid.uuid4().hex[:8]
    server = _start_store(data)
    results = {}
    try:
        _wait_until_up(url)
        products, visitors = _prepare(url)
        with tempfile.TemporaryDirectory() as folder:
            for connections in [int(c) for c in args.connections.split(",")]:
                marker = f"bench-ingest-{run}-{connections}"
                script = Path(folder) / f"ingest-{connections}.lua"
                script.write_text(LUA % {
                    "products": "{" + ",".join(map(str, products)) + "}",
                    "visitors": "{" + ",".join(json.dumps(v) for v in visitors) + "}",
                    "batch": args.batch, "run": uuid.uuid4().hex[:8], "marker": marker,  # event ids unique per cell
                    "now": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                })  # fmt: skip
                command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{args.seconds}s",
                           "--timeout", "10s", "-s", str(script), url]  # fmt: skip
                output = subprocess.run(command, capture_output=True, text=True, timeout=args.seconds + 60).stdout
                line = next((line for line in output.splitlines() if line.startswith("WRK_JSON ")), None)
                if line is None:
                    raise SystemExit(f"wrk said:\n{output}")
                figures = json.loads(line.removeprefix("WRK_JSON "))
                figures.update(_manage(data, COUNT, marker, "COUNT_JSON "))
                figures["events_per_s"] = figures["accepted"] / figures["seconds"]
                figures["lost"] = max(0, figures["accepted"] - figures["rows"])
                figures["doubled"] = figures["rows"] - figures["distinct"]
                figures["unacknowledged_stored"] = max(0, figures["rows"] - figures["accepted"])
                results[str(connections)] = figures
                print(
                    f"{connections:3d} conn: {figures['events_per_s']:8.0f} events/s acknowledged "
                    f"({figures['requests'] / figures['seconds']:.0f} requests/s of {args.batch}, every 5th a retry), "
                    f"p50 {figures['p50_ms']:.0f} p95 {figures['p95_ms']:.0f} p99 {figures['p99_ms']:.0f} ms; "
                    f"accepted {figures['accepted']:,}, stored {figures['rows']:,}, lost {figures['lost']}, "
                    f"doubled {figures['doubled']}, retries answered as duplicates {figures['duplicates']:,}, "
                    f"stored but unanswered when wrk stopped {figures['unacknowledged_stored']}, "
                    f"failed requests {figures['failed'] + figures['socket_errors']}",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=60)
        # The servers are held by the store's process until it ends; clean up with a process of our own.
        print(_manage(data, CLEAN, f"bench-ingest-{run}", None))
    out = ROOT / "benchmarks" / "results" / f"event-ingest-{time.strftime('%Y%m%d-%H%M%S')}{args.label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"batch": args.batch, "seconds": args.seconds, "by_connections": results}, indent=1))
    print(f"Figures: {out.relative_to(ROOT)}")
    if any(f["lost"] or f["doubled"] for f in results.values()):
        raise SystemExit("Events were lost or stored twice.")


def _prepare(url: str) -> tuple[list[int], list[str]]:
    """200 products on sale, and 40 visitor tokens issued by the server."""
    listing = json.loads(urllib.request.urlopen(f"{url}/api/v1/products/?page_size=100").read())
    products = [product["id"] for product in listing["results"]]
    if listing["next"]:
        products += [p["id"] for p in json.loads(urllib.request.urlopen(listing["next"]).read())["results"]]
    visitors = []
    for _ in range(40):  # an endpoint that reads the visitor issues a token
        with urllib.request.urlopen(f"{url}/api/v1/recommendations/") as response:
            visitors.append(response.headers["X-Visitor-Id"])
    if None in visitors:
        raise SystemExit("The store issued no visitor tokens.")
    return products, visitors


def _manage(data: Path, code: str, argument: str, prefix: str | None):
    """Run ``code`` in a `manage.py shell` on the data folder (ARGUMENT in it is ``argument``)."""
    env = {**os.environ, "STOREFRONT_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "storefront.settings.local"}
    output = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code.replace("ARGUMENT", repr(argument))],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if prefix is None:
        return output.strip().splitlines()[-1]
    line = next(line for line in output.splitlines() if line.startswith(prefix))
    return json.loads(line.removeprefix(prefix))


if __name__ == "__main__":
    main()
