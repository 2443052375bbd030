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
"""

from django_prometheus.middleware import PrometheusAfterMiddleware
from django_prometheus.utils import Time, TimeSince


class RequestMetricsMiddleware(PrometheusAfterMiddleware):
    def process_request(self, request):
        self.metrics.requests_by_method.labels(method=self._method(request)).inc()
        request.prometheus_after_middleware_event = Time()

    def process_view(self, request, view_func, *view_args, **view_kwargs):
        return None

    def process_template_response(self, request, response):
        return response

    def process_response(self, request, response):
        method, view = self._method(request), self._get_view_name(request)
        self.metrics.responses_by_status_view_method.labels(
            status=str(response.status_code), view=view, method=method,
        ).inc()
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is not None:
            self.metrics.requests_latency_by_view_method.labels(view=view, method=method).observe(TimeSince(started))
        return response

    def process_exception(self, request, exception):
        # Counted by kind and view; the answer the handler makes of it goes
        # through process_response, which times it: not twice.
        self.metrics.exceptions_by_type.labels(type=type(exception).__name__).inc()
        self.metrics.exceptions_by_view.labels(view=self._get_view_name(request)).inc()
