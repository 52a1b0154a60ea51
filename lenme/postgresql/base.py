"""Django's PostgreSQL backend, with a health check of kept connections that costs no round trip.

Django checks a persistent connection before a request reuses it (CONN_HEALTH_CHECKS) with a
`SELECT 1`: one more round trip on every request. An idle connection has nothing to read, so when its
socket is readable the server closed it or sent something unasked (a restart or an administrator's
kill sends an error first, then closes): only then is `SELECT 1` asked. A database restart still costs
one reconnect, never an error.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None:
            return False
        if connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return super().is_usable()
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        if readable:
            return super().is_usable()
        return True
