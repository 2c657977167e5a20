#!/usr/bin/env python3
"""A WorkCluster worker in Python, over the HTTP lease protocol (POST /api/v1/leases), standard library only.

WorkClusterClient speaks the protocol (lease, renew, progress, complete, fail, release); Worker runs handlers on leased
jobs in threads, renews their leases in the background, and on SIGTERM or Ctrl+C stops leasing, lets the jobs in flight
finish for WORKCLUSTER_SHUTDOWN_SECONDS, then hands the rest back. This file serves py.wordcount and py.sleep.

Configuration (environment): WORKCLUSTER_URL (the API, e.g. http://localhost:8080), WORKCLUSTER_API_KEY (a key with
the 'worker' scope), WORKCLUSTER_WORKER_ID (default python-<host>-<pid>), WORKCLUSTER_CONCURRENCY (default 4),
WORKCLUSTER_WAIT_SECONDS (long-poll, default 20), WORKCLUSTER_SHUTDOWN_SECONDS (default 10).
"""
from __future__ import annotations

import collections
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any, Callable

VERSION = "1.0"


class LeaseLost(Exception):
    """The lease is not held any more (409): the job went back to the queue or ended. Stop working on it."""


class ProtocolError(Exception):
    """The API answered something else than the protocol allows (e.g. 400, 401, 403)."""


class WorkClusterClient:
    def __init__(self, url: str, api_key: str, worker_id: str, types: list[str], language: str = "python"):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.worker = {"id": worker_id, "language": language, "version": VERSION, "pid": os.getpid(),
                       "started_at": datetime.now(timezone.utc).isoformat()}
        self.types = types

    def _post(self, path: str, body: dict | None, timeout: float) -> tuple[int, Any]:
        data = json.dumps(body if body is not None else {}).encode()
        request = urllib.request.Request(self.url + path, data=data, method="POST", headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                problem = json.loads(text) if text else None
            except ValueError:
                problem = None
            if e.code == 409 and path != "/api/v1/leases":
                raise LeaseLost((problem or {}).get("detail", "lease lost")) from None
            raise ProtocolError(f"{e.code} {(problem or {}).get('title', e.reason)}: {(problem or {}).get('detail', '')}") from None

    def lease(self, max_jobs: int, wait_seconds: int, in_flight: int = 0, processed: int = 0) -> list[dict]:
        worker = dict(self.worker, in_flight=in_flight, processed=processed)
        status, body = self._post("/api/v1/leases", {"types": self.types, "max": max_jobs, "wait": wait_seconds, "worker": worker},
                                  timeout=wait_seconds + 15)
        return body["jobs"] if status == 200 and body else []

    def renew(self, token: str) -> dict:
        return self._post(f"/api/v1/leases/{token}/renew", None, timeout=10)[1]

    def progress(self, token: str, percent: float | None = None, message: str | None = None) -> None:
        self._post(f"/api/v1/leases/{token}/progress", {"percent": percent, "message": message}, timeout=10)

    def complete(self, token: str, result: Any) -> str:
        return self._post(f"/api/v1/leases/{token}/complete", {"result": result}, timeout=30)[1]["status"]

    def fail(self, token: str, error: str, retry: bool = True) -> str:
        return self._post(f"/api/v1/leases/{token}/fail", {"error": error, "retry": retry}, timeout=30)[1]["status"]

    def release(self, token: str) -> str:
        return self._post(f"/api/v1/leases/{token}/release", None, timeout=10)[1]["status"]


class Job:
    """A leased job, as a handler sees it: its data, and whether it should stop (cancelled, lease lost, or shutdown)."""

    def __init__(self, client: WorkClusterClient, leased: dict):
        self.client = client
        self.id, self.type, self.data, self.attempt = leased["id"], leased["type"], leased["data"], leased["attempt"]
        self.token = leased["lease_token"]
        self.lease_seconds = leased["lease_ttl_ms"] / 1000
        self.renew_at = time.monotonic() + self.lease_seconds / 3  # every third of the lease, on this process's own clock
        self.stop = threading.Event()
        self.lost = False
        self.cancel_requested = False

    def report(self, percent: float | None = None, message: str | None = None) -> None:
        """Reports progress; a report that cannot be delivered is dropped (progress is advisory), a lost lease stops the job."""
        try:
            self.client.progress(self.token, percent, message)
        except LeaseLost:
            self.lost = True
            self.stop.set()
        except (OSError, ProtocolError) as e:
            log(f"job {self.id}: progress not reported ({e})")


class Worker:
    def __init__(self, client: WorkClusterClient, handlers: dict[str, Callable[[Job], Any]], concurrency: int = 4,
                 wait_seconds: int = 20, shutdown_seconds: float = 10):
        self.client, self.handlers = client, handlers
        self.concurrency, self.wait_seconds, self.shutdown_seconds = concurrency, wait_seconds, shutdown_seconds
        self.running: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.slot_free = threading.Condition(self.lock)
        self.stopping = threading.Event()
        self.processed = 0

    def run(self) -> None:
        """Leases and works until stop() (SIGTERM, Ctrl+C), then shuts down: the main thread only waits, so a signal
        is handled at once even while a lease call waits for work."""
        threading.Thread(target=self._renew_loop, name="renew", daemon=True).start()
        leasing = threading.Thread(target=self._lease_loop, name="lease", daemon=True)
        leasing.start()
        while not self.stopping.wait(0.5):
            pass
        self._shutdown()
        leasing.join(1)  # a lease call still waiting: jobs it gets now are handed back; should it outlive us, they lapse

    def _lease_loop(self) -> None:
        backoff = 0.5
        while not self.stopping.is_set():
            with self.lock:
                while len(self.running) >= self.concurrency and not self.stopping.is_set():
                    self.slot_free.wait(1)
                free = self.concurrency - len(self.running)
            if self.stopping.is_set():
                break
            try:
                leased = self.client.lease(free, self.wait_seconds, self.concurrency - free, self.processed)
                backoff = 0.5
            except (OSError, ProtocolError) as e:  # the API is unreachable or refused: try again, a little later each time
                log(f"lease failed: {e}; again in {backoff:.1f} s")
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10)
                continue
            for item in leased:
                job = Job(self.client, item)
                if self.stopping.is_set():  # leased as the stop came: hand it straight back
                    self._end(job, lambda: self.client.release(job.token))
                    continue
                with self.lock:
                    self.running[job.token] = job
                threading.Thread(target=self._work, args=(job,), name=f"job-{job.id}", daemon=True).start()

    def _work(self, job: Job) -> None:
        try:
            handler = self.handlers.get(job.type)
            if handler is None:
                self._end(job, lambda: self.client.fail(job.token, f"no handler for {job.type}", retry=False))
                return
            try:
                result = handler(job)
            except Exception as e:
                if job.stop.is_set() and self.stopping.is_set() and not job.cancel_requested:
                    self._end(job, lambda: self.client.release(job.token))  # stopped by the shutdown, unfinished
                else:  # the attempt fails: retried after a backoff while attempts are left (cancelled, if that was asked)
                    self._end(job, lambda: self.client.fail(job.token, f"{type(e).__name__}: {e}"))
                return
            # Returned: the job is done, whatever came meanwhile (a requested cancellation still ends it cancelled).
            if self._end(job, lambda: self.client.complete(job.token, result)) == "worked":
                with self.lock:
                    self.processed += 1
        finally:
            with self.lock:
                self.running.pop(job.token, None)
                self.slot_free.notify_all()

    def _end(self, job: Job, call: Callable[[], str]) -> str | None:
        if job.lost:
            log(f"job {job.id}: lease lost, outcome dropped")
            return None
        for attempt in range(5):
            try:
                status = call()
                log(f"job {job.id} ({job.type}, attempt {job.attempt}): {status}")
                return status
            except LeaseLost:
                log(f"job {job.id}: lease lost, outcome dropped")
                return None
            except (OSError, ProtocolError) as e:
                log(f"job {job.id}: could not record its outcome ({e}), again")
                time.sleep(0.5 * (attempt + 1))
        return None  # the lease lapses and the job is worked again

    def _renew_loop(self) -> None:
        while True:
            with self.lock:
                jobs = list(self.running.values())
            now = time.monotonic()
            wait = 1.0
            for job in jobs:
                if now < job.renew_at:
                    wait = min(wait, job.renew_at - now)
                    continue
                try:
                    renewed = self.client.renew(job.token)
                    job.lease_seconds = renewed["lease_ttl_ms"] / 1000
                    job.renew_at = now + job.lease_seconds / 3
                    if renewed.get("cancel_requested") and not job.cancel_requested:
                        job.cancel_requested = True
                        job.stop.set()
                        log(f"job {job.id}: cancellation requested")
                except LeaseLost:
                    job.lost = True
                    job.stop.set()
                    log(f"job {job.id}: lease lost")
                except (OSError, ProtocolError) as e:
                    log(f"job {job.id}: renewal failed ({e})")
                    job.renew_at = now + 0.5
                wait = min(wait, max(job.renew_at - time.monotonic(), 0.05))
            time.sleep(wait if jobs else 0.2)

    def stop(self, *_: Any) -> None:
        if not self.stopping.is_set():
            log("stopping: no more leases; the jobs in flight get "
                f"{self.shutdown_seconds:g} s to finish, then go back to the queue")
            self.stopping.set()
            with self.lock:
                self.slot_free.notify_all()

    def _shutdown(self) -> None:
        deadline = time.time() + self.shutdown_seconds
        while time.time() < deadline:
            with self.lock:
                if not self.running:
                    break
            time.sleep(0.05)
        with self.lock:
            left = list(self.running.values())
        for job in left:
            job.stop.set()  # the handlers return; each hands its job back (_work)
        end = time.time() + 5
        while time.time() < end:
            with self.lock:
                if not self.running:
                    break
            time.sleep(0.05)
        with self.lock:
            stuck = list(self.running.values())
        for job in stuck:  # handlers that ignore stop: their jobs go back now, not when their leases lapse
            self._end(job, lambda job=job: self.client.release(job.token))
        log("stopped")


def log(message: str) -> None:
    print(f"{datetime.now(timezone.utc).isoformat(timespec='milliseconds')} {message}", flush=True)


# The handlers this worker serves.

def wordcount(job: Job) -> dict:
    """py.wordcount: the words of a text ("data" is the text, or {"text": ...}), counted."""
    text = job.data.get("text") if isinstance(job.data, dict) else job.data
    if not isinstance(text, str):
        raise ValueError("data must be a text, or an object with a 'text'")
    words = re.findall(r"[^\W_]+(?:'[^\W_]+)*", text.lower())
    counts = collections.Counter(words)
    return {"words": len(words), "distinct": len(counts), "top": [[w, n] for w, n in counts.most_common(10)]}


def sleep(job: Job) -> dict:
    """py.sleep: sleeps {"sleep_ms": n} (default 1000), reporting progress, and stops early when told to."""
    ms = job.data.get("sleep_ms", 1000) if isinstance(job.data, dict) else 1000
    if not isinstance(ms, int) or ms < 0:
        raise ValueError("sleep_ms must be a whole number of milliseconds")
    started = time.monotonic()
    while (elapsed := (time.monotonic() - started) * 1000) < ms:
        if job.stop.wait(min(0.5, (ms - elapsed) / 1000)):
            raise InterruptedError("stopped")
        job.report(percent=min(100.0, 100 * elapsed / ms))
    return {"slept_ms": ms, "worker": job.client.worker["id"]}


def main() -> int:
    url, key = os.environ.get("WORKCLUSTER_URL"), os.environ.get("WORKCLUSTER_API_KEY")
    if not url or not key:
        print("Set WORKCLUSTER_URL (the API, e.g. http://localhost:8080) and WORKCLUSTER_API_KEY (a key with the 'worker' scope).",
              file=sys.stderr)
        return 2
    worker_id = os.environ.get("WORKCLUSTER_WORKER_ID") or f"python-{socket.gethostname()}-{os.getpid()}"
    handlers = {"py.wordcount": wordcount, "py.sleep": sleep}
    client = WorkClusterClient(url, key, worker_id, sorted(handlers))
    worker = Worker(client, handlers, concurrency=int(os.environ.get("WORKCLUSTER_CONCURRENCY", "4")),
                    wait_seconds=int(os.environ.get("WORKCLUSTER_WAIT_SECONDS", "20")),
                    shutdown_seconds=float(os.environ.get("WORKCLUSTER_SHUTDOWN_SECONDS", "10")))
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    log(f"{worker_id} serving {', '.join(sorted(handlers))} from {url}")
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
