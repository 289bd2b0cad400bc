"""The ASGI entry point: API paths go to a lean handler, everything else (admin) to the full one.

The API needs none of sessions, auth, messages, CSRF or clickjacking middleware, and under ASGI
each of those sync middlewares costs a thread hop per request; the API's handler runs only the
API_MIDDLEWARE of the settings.
"""

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

django_application = get_asgi_application()  # also sets Django up

from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402


# Endpoints whose requests are held open while a job runs. Their views are async and do their
# sync work on api.threads' pool.
HELD_PATHS = ("/v1/images/", "/v1/chat/completions", "/v1/videos/generations")


class APIHandler(ASGIHandler):
    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(HELD_PATHS):
            # Django opens a ThreadSensitiveContext per request: a new thread for the request's
            # sync signal receivers (request_started/finished), kept until the request ends, so
            # a thousand held requests kept a thousand idle threads. Without it those receivers
            # share asgiref's one sync thread (they do no database work there).
            await self.handle(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


API_PATHS = ("/v1/", "/v2/", "/files/")
api_application = APIHandler()
# Static files are only the admin's CSS and JS: served in-process so a single command runs it all.
site_application = ASGIStaticFilesHandler(django_application)


from gateway import chunked  # noqa: E402
from videos import fastpath  # noqa: E402


# The cyclic collector's first threshold in the web process (CPython's default is 700). Held
# requests keep their objects alive for the whole job, so with the default a thousand held
# requests set off a full collection every few seconds, each a pause of the event loop (65–235 ms
# measured) for every waiting request at once. Ten times the threshold ran 6 collections over
# 10 ms in a 1,000-request run instead of 10–15, at most 31 ms instead of 140–171, with the same
# peak RSS (bench.images_jimeng --only held).
WEB_GC_THRESHOLD = 7000


def _ready() -> None:
    """Import the views now rather than on the first request, then freeze what is loaded and
    collect less often (see WEB_GC_THRESHOLD)."""
    import gc

    from django.urls import get_resolver

    from generation.apps import freeze_long_lived

    get_resolver().url_patterns  # noqa: B018  (imports every view module)
    freeze_long_lived()
    gc.set_threshold(WEB_GC_THRESHOLD, *gc.get_threshold()[1:])


_ready()


async def application(scope, receive, send):
    video_id = fastpath.matches(scope)
    if video_id is not None:
        return await fastpath.retrieve(scope, receive, send, video_id)
    if scope["type"] == "http" and scope["path"].startswith(API_PATHS):
        if chunked.chunked(scope):
            scope, receive = await chunked.with_length(scope, receive, send)
            if scope is None:
                return
        return await api_application(scope, receive, send)
    return await site_application(scope, receive, send)
