"""Run one request from many threads at the same instant, each with its own database connection."""

import threading

from django.db import connections
from rest_framework.test import APIClient


def in_parallel(count: int, call) -> list:
    """``call(client, i)`` in ``count`` threads released together by a barrier; returns the results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(i: int) -> None:
        client = APIClient(raise_request_exception=False)
        try:
            barrier.wait(timeout=10)
            results[i] = call(client, i)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
