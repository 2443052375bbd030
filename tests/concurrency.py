"""Run one request from many threads at the same instant."""

import threading

from django.db import connections
from rest_framework.test import APIClient


def at_once(count: int, call) -> list:
    """``call(i)`` in ``count`` threads released together by a barrier; returns the results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(i: int) -> None:
        barrier.wait(timeout=30)
        results[i] = call(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def in_parallel(count: int, call) -> list:
    """``call(client, i)`` through the test client, each thread with its own database connection."""

    def run(i: int):
        try:
            return call(APIClient(raise_request_exception=False), i)
        finally:
            connections.close_all()

    return at_once(count, run)
