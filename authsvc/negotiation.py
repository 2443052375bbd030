"""
Content negotiation for the API (``REST_FRAMEWORK``'s
``DEFAULT_CONTENT_NEGOTIATION_CLASS``). A module of its own: DRF imports it
while ``rest_framework.views`` is being defined.
"""

from rest_framework.negotiation import DefaultContentNegotiation


class JSONNegotiation(DefaultContentNegotiation):
    """
    DRF's negotiation, with its answer for the requests nearly every client
    sends (no ``Accept``, ``*/*`` or ``application/json``; no ``?format=``)
    given at once: the API renders JSON only, so they get JSON. DRF would
    parse the header and rank its media types on every request (3–4% of a
    GET /me here, bench/RESULTS.md); anything else still goes through it.
    """

    _PLAIN = frozenset({None, "*/*", "application/json"})

    def select_renderer(self, request, renderers, format_suffix=None):
        if (len(renderers) == 1 and renderers[0].media_type == "application/json" and not format_suffix
                and request.META.get("HTTP_ACCEPT") in self._PLAIN
                and self.settings.URL_FORMAT_OVERRIDE not in request.query_params):
            return renderers[0], "application/json"
        return super().select_renderer(request, renderers, format_suffix)
