"""
django-prometheus' request metrics, recorded by one middleware and kept to
the series an operator reads: requests by method, responses by status, view
and method, and latency by view and method (plus django-prometheus' own
exception counts). Same metric names, same labels.

django-prometheus' middleware pair records about twenty values a request —
transports, body sizes, charsets, two latencies — and in multiprocess mode
(under gunicorn, ``authsvc.metrics``) each one is a locked write to a
memory-mapped file: 80–90 µs a request, measured, against about 20 µs for
these three — on GET /me, which stock simplejwt answers in about 2 ms of
CPU, enough to matter (bench/RESULTS.md).

First in ``MIDDLEWARE``: every answer is counted, including those that never
reach a view (CORS preflight, redirects, 404), and the latency covers every
other middleware.

Each series is looked up by its labels once per process and kept: a
``labels()`` call checks and joins its values anew each time (2–3 µs, three
a request). Methods, view names and statuses are few, so what is kept is no
more than the metrics' own table of series.
"""

from django_prometheus.middleware import PrometheusAfterMiddleware
from django_prometheus.utils import Time, TimeSince


class RequestMetricsMiddleware(PrometheusAfterMiddleware):
    def __init__(self, get_response=None):
        super().__init__(get_response)
        self._requests: dict[str, object] = {}
        self._responses: dict[tuple[str, str, str], tuple[object, object]] = {}

    def process_request(self, request):
        method = self._method(request)
        counter = self._requests.get(method)
        if counter is None:
            counter = self._requests[method] = self.metrics.requests_by_method.labels(method=method)
        counter.inc()
        request.prometheus_after_middleware_event = Time()

    def process_view(self, request, view_func, *view_args, **view_kwargs):
        return None

    def process_template_response(self, request, response):
        return response

    def process_response(self, request, response):
        key = (str(response.status_code), self._get_view_name(request), self._method(request))
        series = self._responses.get(key)
        if series is None:
            status, view, method = key
            series = self._responses[key] = (
                self.metrics.responses_by_status_view_method.labels(status=status, view=view, method=method),
                self.metrics.requests_latency_by_view_method.labels(view=view, method=method),
            )
        responses, latency = series
        responses.inc()
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is not None:
            latency.observe(TimeSince(started))
        return response

    def process_exception(self, request, exception):
        # Counted by kind and view; the answer the handler makes of it goes
        # through process_response, which times it: not twice.
        self.metrics.exceptions_by_type.labels(type=type(exception).__name__).inc()
        self.metrics.exceptions_by_view.labels(view=self._get_view_name(request)).inc()
