"""Liveness and readiness probes for load balancers and orchestrators (API.md "Operations (v2)")."""

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lenme.api.errors import problem, problem_response
from lenme.api.schema import problem as problem_doc

_Status = inline_serializer(name="HealthStatus", fields={"status": serializers.CharField(help_text="`ok`.")})


class _ProbeView(APIView):
    # No token, no throttle: a probe must answer even when the clients of the API are being limited.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []


class HealthzView(_ProbeView):
    @extend_schema(
        tags=["operations"],
        summary="Liveness: the process is up",
        description="Touches neither the database nor any other service.",
        responses={200: _Status},
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


# Set once this process has seen every migration on disk applied. Its code, so its migrations, cannot
# change while it runs, so later probes only ask the database to answer (loading the migration graph
# costs tens of milliseconds of CPU, on every probe otherwise).
_migrations_applied = False


def unapplied_migrations() -> list[str]:
    """The migrations on disk that the database has not applied, as "app.name"."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


class ReadyzView(_ProbeView):
    @extend_schema(
        tags=["operations"],
        summary="Readiness: the database answers and every migration is applied",
        description="503 (problem+json, code `not_ready`) while the database is unreachable or a migration is pending.",
        responses={200: _Status, (503, "application/problem+json"): problem_doc(503, "`not_ready`.")},
    )
    def get(self, request: Request) -> Response:
        global _migrations_applied
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            pending = [] if _migrations_applied else unapplied_migrations()
        except DatabaseError:  # Django logs the 503 (django.request); the driver's message may hold secrets
            return _not_ready("The database does not answer.")
        if pending:
            return _not_ready(f"{len(pending)} migration(s) not applied.")
        _migrations_applied = True
        return Response({"status": "ok"})


def _not_ready(detail: str) -> Response:
    return problem_response(problem(503, "not_ready", "Not ready", detail))
