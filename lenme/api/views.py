"""Base views: every money POST is an ActionView, which adds Idempotency-Key handling and retries."""

from django.http import HttpResponse
from rest_framework import exceptions
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lenme.api import idempotency
from lenme.api.errors import Conflict, IdempotencyInFlight, ValidationFailed
from lenme.api.represent import valid_data
from lenme.db import atomic_retry, joined


class ActionView(APIView):
    """One POST action. Subclasses implement act(); the base makes it idempotent on request.

    With an Idempotency-Key the whole action (the service's own atomic block nested inside, so its
    retries move up here) and the storing of its response run in one transaction that first locks the
    key's record, retried as a unit on deadlocks; see lenme.api.idempotency for the lifecycle.
    """

    def act(self, request: Request, *args, **kwargs) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def precheck(self, request: Request, *args, **kwargs) -> None:
        """Raise the 404 or 403 the action would answer, changing nothing.

        Runs only before a 400 (bad body or bad Idempotency-Key), so that the contract's precedence
        (404 > 403 > 400) holds without costing a valid request a query: the service re-checks anyway.
        """

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            # Whatever happened on the way out (even an error while storing a response), a claim's
            # advisory lock never outlives its request on a kept connection.
            claim = getattr(self, "_claim_taken", None)
            if claim is not None:
                claim.release()

    def initial(self, request: Request, *args, **kwargs) -> None:
        self._idempotency = None
        self._claim: idempotency.TransactionClaim | None = None
        self._replay: HttpResponse | None = None
        super().initial(request, *args, **kwargs)  # 401 and 429 come before anything idempotent
        if request.method != "POST":
            return
        try:  # parse the body now, so a malformed one is a 400 with or without a key, after 404/403
            request.data  # noqa: B018
        except (exceptions.ParseError, exceptions.UnsupportedMediaType):
            self.precheck(request, *args, **kwargs)
            raise
        raw_key = request.headers.get(idempotency.HEADER)
        if raw_key is None:
            return
        try:
            key = idempotency.validate_key(raw_key)
        except ValidationFailed:
            self.precheck(request, *args, **kwargs)
            raise
        fingerprint = idempotency.request_fingerprint(
            method=request.method, full_path=request.get_full_path(), data=request.data
        )
        if idempotency.claims_in_transaction():  # PostgreSQL: claimed by the action's transaction (post)
            self._claim = self._claim_taken = idempotency.TransactionClaim(
                user=request.user, key=key, fingerprint=fingerprint
            )
            return
        claimed = idempotency.idempotency_begin(user=request.user, key=key, fingerprint=fingerprint)
        if isinstance(claimed, HttpResponse):
            self._replay = claimed
        else:
            self._idempotency = claimed

    def post(self, request: Request, *args, **kwargs):
        if self._replay is not None:
            return self._replay
        record, claim = self._idempotency, self._claim
        if record is None and claim is None:
            return self.act(request, *args, **kwargs)

        @atomic_retry
        def act_and_store() -> Response | HttpResponse:
            if claim is not None:
                stored = claim.begin()
                if stored is not None:  # a replay (or a refusal, raised): nothing executes
                    return stored
            else:
                idempotency.idempotency_hold(record)
            with joined():  # any error leaves this transaction, so the service's block needs no savepoint
                action = self.act(request, *args, **kwargs)
            response = super(ActionView, self).finalize_response(request, action, *args, **kwargs)
            response.render()
            if not idempotency.is_stored(response.status_code):
                claim.forget() if claim is not None else idempotency.idempotency_free(record)
            elif claim is not None:
                claim.store(**_stored_parts(response))
            elif not idempotency.idempotency_store(
                record, **_stored_parts(response)
            ):  # pragma: no cover - we hold the record's lock; a guard against ever executing twice
                raise IdempotencyInFlight("Another request with this Idempotency-Key took it over.")
            return response

        response = act_and_store()
        self._idempotency = self._claim = None
        return response

    def handle_exception(self, exc: Exception):
        try:
            return super().handle_exception(exc)
        except Exception:
            record, self._idempotency = getattr(self, "_idempotency", None), None
            self._claim = None  # its lock is given back when dispatch ends
            if record is not None:  # a 5xx: free the key so a retry executes afresh
                idempotency.idempotency_free(record)
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record, self._idempotency = getattr(self, "_idempotency", None), None
        claim, self._claim = getattr(self, "_claim", None), None
        if record is None and not (claim is not None and claim.held):
            return response  # no key, or a claim that holds nothing (its lock, if any, ends with dispatch)
        # The action raised and its transaction rolled back: store its 4xx, or free the key after a
        # 400, a 5xx or a lost race (409 `conflict`: nothing happened, a retry must execute).
        data = getattr(response, "data", None)
        lost_race = isinstance(data, dict) and data.get("code") == Conflict.code
        if not idempotency.is_stored(response.status_code) or lost_race:
            claim.release() if claim is not None else idempotency.idempotency_free(record)
            return response
        response.render()
        if claim is not None:  # its lock is still ours, so nobody claimed the key meanwhile
            claim.store_after_rollback(**_stored_parts(response))
        else:
            idempotency.idempotency_store(record, **_stored_parts(response))
        return response


def _stored_parts(response) -> dict:
    """What an Idempotency-Key keeps of a rendered response, to replay it byte for byte."""
    return {"status": response.status_code, "body": response.content, "content_type": response["Content-Type"]}


def validated(serializer_class, request: Request, *, view: ActionView | None = None) -> dict:
    """Validate the JSON object body with serializer_class; anything else is a 400, after the view's
    precheck has had the chance to answer 404 or 403 first."""
    if not isinstance(request.data, dict):
        if view:
            view.precheck(request, *view.args, **view.kwargs)
        raise ValidationFailed.field(None, "The body must be a JSON object.", "invalid")
    data = valid_data(serializer_class, request.data)
    if data is not None:
        return data
    serializer = serializer_class(data=request.data, context={"request": request})
    if not serializer.is_valid():
        if view:
            view.precheck(request, *view.args, **view.kwargs)
        raise ValidationError(serializer.errors)
    return dict(serializer.validated_data)


def validated_later(serializer_class, data, *, context: dict | None = None) -> tuple[dict, ValidationError | None]:
    """Validate now, answer later: the validated data and None, or {} and the 400 for a service to raise
    after the checks the contract puts first (a loan's state before a prepayment's amount; a quote's
    403 before its bad `as_of`)."""
    serializer = serializer_class(data=data, context=context or {})
    if serializer.is_valid():
        return dict(serializer.validated_data), None
    return {}, ValidationError(serializer.errors)
