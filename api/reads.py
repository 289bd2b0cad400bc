"""Hot read-only queries of a web process, run on a small shared pool of threads.

Under ASGI, Django gives each request a thread of its own and a fresh database connection,
which costs more than a status lookup itself. Pollers hit `GET /v1/videos/{id}` many times a
second, so those reads run here instead: a few long-lived threads whose connections persist.
A broken connection (database restart) is closed and the read retried once.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from django.db import DatabaseError, InterfaceError, connections

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="db-reader")


def _guarded(fn, *args):
    try:
        return fn(*args)
    except (InterfaceError, DatabaseError):
        connections["default"].close()
        return fn(*args)


async def read(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(_pool, _guarded, fn, *args)
