"""HTTP endpoints of accounts: thin views that parse, call one service or selector, and serialize."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.serializers import (
    AccountSerializer,
    AmountInputSerializer,
    PasswordChangeInputSerializer,
    RegisterInputSerializer,
    RegisterOutputSerializer,
    TokenInputSerializer,
    TokenOutputSerializer,
    TransactionSerializer,
)
from lenme.api.represent import represent
from lenme.api.schema import IDEMPOTENCY_KEY, errors
from lenme.api.views import ActionView
from lenme.api.views import validated as _validated
from lenme.throttling import AnonRateThrottle, LoginAddressThrottle, UserRateThrottle, login_attempt

LOGIN_LIMIT = (
    " Sign-in attempts are limited per username and per client address (`THROTTLE_LOGIN_RATE`, default "
    "10/min): over it, 429 `throttled` with `Retry-After`."
)


class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["auth"],
        summary="Register a user",
        request=RegisterInputSerializer,
        responses={201: RegisterOutputSerializer, **errors(400, auth=False)},
        examples=[
            OpenApiExample(
                "Borrower",
                value={"username": "alice", "password": "s3cure-Passw0rd", "email": "alice@example.com"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = _validated(RegisterInputSerializer, request)
        user, token = services.user_register(**data)
        body = {"id": user.pk, "username": user.username, "email": user.email, "token": token}
        return Response(RegisterOutputSerializer(body).data, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonRateThrottle, LoginAddressThrottle]

    @extend_schema(
        tags=["auth"],
        summary="Get a new token for a username and password",
        description="Each call issues a new token; earlier ones keep working until logout or a password change."
        + LOGIN_LIMIT,
        request=TokenInputSerializer,
        responses={200: TokenOutputSerializer, **errors(400, auth=False)},
    )
    def post(self, request: Request) -> Response:
        data = _validated(TokenInputSerializer, request)
        login_attempt(request, data["username"])
        return Response({"token": services.token_obtain(**data)})


class LogoutView(APIView):
    @extend_schema(
        tags=["auth"],
        summary="Revoke the caller's token",
        description="The token of this request stops working at once; the user's other tokens do not. "
        "No body; `Idempotency-Key` is ignored.",
        request=None,
        responses={204: None, **errors()},
    )
    def post(self, request: Request) -> Response:
        services.token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    throttle_classes = [UserRateThrottle, LoginAddressThrottle]

    @extend_schema(
        tags=["auth"],
        summary="Change the password; every earlier token stops working",
        description="The new password goes through the validators as at register; a wrong `old_password` is "
        "400 (field `old_password`). The answer carries the only token that works afterwards. "
        "`Idempotency-Key` is ignored." + LOGIN_LIMIT,
        request=PasswordChangeInputSerializer,
        responses={200: TokenOutputSerializer, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = _validated(PasswordChangeInputSerializer, request)
        login_attempt(request, request.user.get_username())
        return Response({"token": services.password_change(user=request.user, **data)})


class MeView(APIView):
    @extend_schema(tags=["accounts"], summary="The caller's account", responses={200: AccountSerializer, **errors()})
    def get(self, request: Request) -> Response:
        return Response(represent(AccountSerializer, selectors.profile_get(user=request.user)))


class DepositView(ActionView):
    @extend_schema(
        tags=["accounts"],
        summary="Deposit money (simulated funding source)",
        description="0.01 to 100000000.00; the balance never exceeds 999999999999.99.",
        request=AmountInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: AccountSerializer, **errors(400, idempotent=True)},
        examples=[OpenApiExample("Deposit", value={"amount": "10000.00"}, request_only=True)],
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request) -> Response:
        data = _validated(AmountInputSerializer, request)
        return Response(
            represent(AccountSerializer, services.account_deposit(user=request.user, amount=data["amount"]))
        )


class WithdrawView(ActionView):
    @extend_schema(
        tags=["accounts"],
        summary="Withdraw money from the available balance",
        request=AmountInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: AccountSerializer, **errors(400, conflicts=("insufficient_funds",), idempotent=True)},
        examples=[OpenApiExample("Withdraw", value={"amount": "100.00"}, request_only=True)],
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request) -> Response:
        data = _validated(AmountInputSerializer, request)
        return Response(
            represent(AccountSerializer, services.account_withdraw(user=request.user, amount=data["amount"]))
        )


class TransactionListView(generics.ListAPIView):
    serializer_class = TransactionSerializer

    @extend_schema(
        tags=["accounts"],
        summary="The caller's ledger rows, newest first",
        responses={200: TransactionSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.transaction_list(user=self.request.user)
