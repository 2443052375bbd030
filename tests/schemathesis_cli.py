"""
The schemathesis command, with ``ast.parse`` taken by one thread at a time.

Hypothesis describes the lambdas of filtered strategies by parsing their
module's source (``hypothesis.internal.lambda_sources``), in each of the
fuzzer's worker threads. CPython 3.11 keeps the AST constructor's recursion
depth in state the threads share, so two parses at once can fail with
"AST constructor recursion depth mismatch" (CPython gh-106905, fixed in
3.12+): a runtime error of the fuzzer, not a finding about the service.
Serialising the parse costs nothing measurable and keeps two workers.
"""

import ast
import sys
import threading

_lock = threading.Lock()
_parse = ast.parse


def _serial_parse(*args, **kwargs):
    with _lock:
        return _parse(*args, **kwargs)


if __name__ == "__main__":
    ast.parse = _serial_parse
    from schemathesis.cli import schemathesis

    sys.exit(schemathesis())
