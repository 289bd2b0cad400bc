import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

# Static files are only the admin's CSS and JS: served in-process so a single command runs it all.
application = ASGIStaticFilesHandler(get_asgi_application())
