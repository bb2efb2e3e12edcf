"""Fails loudly when the test PostgreSQL server cannot be reached: it is never skipped."""

import sys

import psycopg

url = sys.argv[1]
try:
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=5) as connection:
        connection.execute("SELECT 1")
except psycopg.OperationalError as error:
    print(
        f"\n!!! PostgreSQL is not reachable at {url}: {error}\n"
        "!!! The suite must pass on PostgreSQL too. Start it, or set TEST_DATABASE_URL.\n",
        file=sys.stderr,
    )
    sys.exit(1)
