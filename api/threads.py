"""The sync part of API requests (parsing uploads, fetching input URLs, writes) on one shared
pool of threads.

The API handler (gateway/asgi.py) gives requests no thread of their own, so sync work must not
go to asgiref's single shared thread either: one slow input URL would hold up every other
request. Here it runs on a bounded pool; a connection opened on the way is closed afterwards, as
Django closes a request's connection when the request ends.
"""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="api-sync")


async def run_sync(fn, *args, **kwargs):
    context = contextvars.copy_context()  # the request's context (request id for logs) comes along

    def call():
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return await asyncio.get_running_loop().run_in_executor(_pool, context.run, call)
