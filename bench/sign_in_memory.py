"""Peak memory of `openrooms serve`'s processes after 20 people sign in at once (09:00).

Each sign-in hashes a password (Argon2id, openrooms.accounts.hashers); the figure is each
process's VmHWM after 20 concurrent sign-ins, and the sign-ins' p50/max.

    .venv/bin/python bench/sign_in_memory.py [--people 20]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from http_load import free_port, manage, peak_memory_mb, server_processes  # bench/http_load.py

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
SEED = """
from openrooms.accounts.services import do_create_account, do_create_organisation
organisation, _ = do_create_organisation(name="Bench", slug="bench",
    admin_email="bench@bench.test", admin_password="PASSWORD")
for n in range(PEOPLE):
    do_create_account(organisation, email=f"person{n}@bench.test", password="PASSWORD")
"""


def sign_in(base: str, email: str, took: list[float]) -> None:
    with httpx.Client(base_url=base, timeout=60) as http:
        page = http.get("/accounts/login/").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        started = time.perf_counter()
        answer = http.post("/accounts/login/", data={
            "csrfmiddlewaretoken": token.group(1) if token else "", "username": email,
            "password": PASSWORD}, headers={"Referer": f"{base}/accounts/login/"})
        took.append(time.perf_counter() - started)
        if answer.status_code != 302:
            raise SystemExit(f"sign-in of {email} answered {answer.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="openrooms-sign-in-"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
           "OPENROOMS_DATA_DIR": str(folder), "OPENROOMS_INSECURE_HTTP": "1",
           "LOG_LEVEL": "WARNING"}
    env.pop("DEBUG", None)
    manage(env, "migrate", "-v", "0")
    manage(env, "shell", "-c",
           SEED.replace("PASSWORD", PASSWORD).replace("PEOPLE", str(args.people)))
    port = free_port()
    server = subprocess.Popen([sys.executable, "manage.py", "serve", "--bind",
                               f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        while len(server_processes(server.pid)) < 3:  # the master and its two processes
            time.sleep(0.1)
        pids = server_processes(server.pid)
        before = [peak_memory_mb(pid) for pid in pids]
        took: list[float] = []
        threads = [threading.Thread(target=sign_in, args=(base, f"person{n}@bench.test", took))
                   for n in range(args.people)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = [peak_memory_mb(pid) for pid in pids]
        print(f"{args.people} concurrent sign-ins: p50 {statistics.median(took) * 1000:.0f} ms, "
              f"max {max(took) * 1000:.0f} ms")
        print("peak memory (VmHWM) per process, master first: "
              + ", ".join(f"{b:.0f} → {a:.0f} MB" for b, a in zip(before, after, strict=True)))
    finally:
        server.terminate()
        server.wait(timeout=40)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
