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
    RegisterInputSerializer,
    RegisterOutputSerializer,
    TokenInputSerializer,
    TokenOutputSerializer,
    TransactionSerializer,
)
from lenme.api.schema import IDEMPOTENCY_KEY, errors
from lenme.api.views import ActionView
from lenme.api.views import validated as _validated


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
        body = {"id": user.pk, "username": user.username, "email": user.email, "token": token.key}
        return Response(RegisterOutputSerializer(body).data, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["auth"],
        summary="Get the token for a username and password",
        request=TokenInputSerializer,
        responses={200: TokenOutputSerializer, **errors(400, auth=False)},
    )
    def post(self, request: Request) -> Response:
        token = services.token_obtain(**_validated(TokenInputSerializer, request))
        return Response({"token": token.key})


class MeView(APIView):
    @extend_schema(tags=["accounts"], summary="The caller's account", responses={200: AccountSerializer, **errors()})
    def get(self, request: Request) -> Response:
        return Response(AccountSerializer(selectors.profile_get(user=request.user)).data)


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
        return Response(AccountSerializer(services.account_deposit(user=request.user, amount=data["amount"])).data)


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
        return Response(AccountSerializer(services.account_withdraw(user=request.user, amount=data["amount"])).data)


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
