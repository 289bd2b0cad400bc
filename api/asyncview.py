"""An async DRF view whose request setup costs no thread hop when the API key is cached.

adrf runs DRF's `initial()` (negotiation, authentication, permissions) through sync_to_async,
which under ASGI means a fresh thread per request. Here the key is looked up first, on the
shared reader threads when it is not cached, and `initial()` then runs on the event loop: by
then it does no database work.
"""

from __future__ import annotations

from adrf.views import APIView

from api import authentication
from api.reads import read
from api.threads import run_sync


class AsyncAPIView(APIView):
    async def async_dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            raw = authentication.bearer_token(request)
            if raw is not None and not authentication.is_cached(raw):
                await read(authentication.lookup, raw)
            if raw is None or authentication.is_cached(raw):
                self.initial(request, *args, **kwargs)
            else:
                # An unknown key is not cached: authentication looks it up again to refuse it,
                # which is database work, so not on the event loop.
                await run_sync(self.initial, request, *args, **kwargs)
            handler = getattr(self, request.method.lower(), None) \
                if request.method.lower() in self.http_method_names else None
            response = await (handler or self._not_allowed)(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    async def _not_allowed(self, request, *args, **kwargs):
        self.http_method_not_allowed(request, *args, **kwargs)
