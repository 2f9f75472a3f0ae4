"""DATABASES entries for the read replicas (DATABASE_REPLICA_URLS). Imports nothing from Django's
database layer: settings call it."""

import copy

import dj_database_url


def replica_databases(primary: dict, urls: list[str], *, mirror: bool = False) -> dict[str, dict]:
    """One alias per URL ("replica1", "replica2", ...), each with the primary's engine and options
    (timeouts, HNSW search breadth, iterative scans) and the URL's server, name and credentials.
    ``mirror``: under the test runner each is a mirror of the primary's test database (Django's
    TEST MIRROR), for suites that run the router against a database without a real replica."""
    aliases = {}
    for number, url in enumerate(urls, start=1):
        replica = copy.deepcopy(primary)
        parsed = dj_database_url.parse(url, conn_max_age=primary.get("CONN_MAX_AGE", 0), conn_health_checks=True)
        for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT"):
            replica[key] = parsed.get(key, "")
        replica["OPTIONS"].pop("host", None)  # the primary's socket folder (?host=...), not the replica's
        replica["OPTIONS"].update(parsed.get("OPTIONS", {}))
        replica["TEST"] = {"MIRROR": "default"} if mirror else {}
        aliases[f"replica{number}"] = replica
    return aliases
