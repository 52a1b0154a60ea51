"""HTTP endpoints of the lending flow: one view per action; parse, call one service, serialize."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lenme.api.schema import IDEMPOTENCY_KEY, errors
from lenme.api.views import ActionView, validated
from loans import examples, selectors, services
from loans.models import LoanStatus
from loans.serializers import (
    AcceptSerializer,
    AutopaySerializer,
    AvailableQuerySerializer,
    LoanCreateSerializer,
    LoanDetailSerializer,
    LoanListQuerySerializer,
    LoanSerializer,
    NotificationSerializer,
    OfferCreateSerializer,
    OfferSerializer,
    PaymentSerializer,
    QuoteQuerySerializer,
    QuoteSerializer,
)


def _query(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class LoanListCreateView(ActionView):
    pagination_class = generics.ListAPIView.pagination_class

    @extend_schema(
        tags=["loans"],
        summary="The caller's loans (as borrower, lender, or both)",
        parameters=[LoanListQuerySerializer],
        responses={200: LoanSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        query = _query(LoanListQuerySerializer, request)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.loan_list(user=request.user, **query), request, view=self)
        return paginator.get_paginated_response(LoanSerializer(page, many=True).data)

    @extend_schema(
        tags=["loans"],
        summary="Request a loan",
        description="Status OPEN, or DRAFT when `draft` is true. `amount` 1.00..1000000.00 and at least `term_months` * 1.00. Other fields are ignored.",
        request=LoanCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: LoanSerializer, **errors(400, idempotent=True)},
        examples=[
            OpenApiExample(
                "The Lenme example",
                value={"amount": "5000.00", "term_months": 6, "interest_rate": "15.00"},
                request_only=True,
            ),
            examples.LOAN_CREATED,
            examples.VALIDATION_ERROR,
        ],
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request) -> Response:
        data = validated(LoanCreateSerializer, request)
        loan = services.loan_create(borrower=request.user, **data)
        return Response(LoanSerializer(loan).data, status=status.HTTP_201_CREATED)


class LoanAvailableView(generics.ListAPIView):
    serializer_class = LoanSerializer

    @extend_schema(
        tags=["loans"],
        summary="Loans open for offers (not the caller's own)",
        parameters=[AvailableQuerySerializer],
        responses={200: LoanSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.loan_available_list(user=self.request.user, **_query(AvailableQuerySerializer, self.request))


class LoanQuoteView(APIView):
    authentication_classes: list = []  # public: a stale token must not turn a quote into a 401
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["loans"],
        summary="Quote the schedule funding would create (no auth)",
        parameters=[
            OpenApiParameter(
                "amount",
                str,
                required=True,
                description="1.00 to 1000000.00",
                examples=[OpenApiExample("amount", value="5000.00")],
            ),
            OpenApiParameter(
                "term_months", int, required=True, description="1 to 360", examples=[OpenApiExample("term", value=6)]
            ),
            OpenApiParameter(
                "interest_rate",
                str,
                required=True,
                description="0.00 to 100.00",
                examples=[OpenApiExample("rate", value="15.00")],
            ),
        ],
        responses={200: QuoteSerializer, **errors(400, auth=False)},
        examples=[examples.QUOTE, examples.VALIDATION_ERROR],
    )
    def get(self, request: Request) -> Response:
        body = selectors.loan_quote(**_query(QuoteQuerySerializer, request))
        return Response(QuoteSerializer(body).data)


class LoanDetailView(APIView):
    @extend_schema(
        tags=["loans"],
        summary="A loan with its schedule",
        description="`payments` is the schedule (empty before funding), shown to the borrower and the lender; "
        "other users who can see the loan get an empty list, as GET .../payments/ refuses them.",
        responses={200: LoanDetailSerializer, **errors(404)},
    )
    def get(self, request: Request, loan_id: int) -> Response:
        loan = selectors.loan_get(loan_id=loan_id, user=request.user, with_payments=True)
        return Response(LoanDetailSerializer(loan).data)


def _loan_action(
    summary: str,
    *,
    description: str = "",
    request=None,
    statuses=(404, 403),
    conflicts=("invalid_state",),
    response=LoanSerializer,
    example=None,
    tag: str = "loans",
):
    return extend_schema(
        tags=[tag],
        summary=summary,
        description=description,
        request=request,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: response, **errors(*statuses, conflicts=conflicts, idempotent=True)},
        examples=[example] if example else None,
    )


class LoanActionView(ActionView):
    """An action on /api/loans/{loan_id}/...; `role` says who may take it (checked as a 403)."""

    role: str = ""

    def precheck(self, request: Request, *args, **kwargs) -> None:
        selectors.loan_action_check(
            user=request.user,
            loan_id=kwargs["loan_id"],
            role=self.role,
            offer_id=kwargs.get("offer_id"),
            payment_id=kwargs.get("payment_id"),
        )


class LoanPublishView(LoanActionView):
    role = "borrower"

    @_loan_action("Publish a DRAFT loan (borrower)")
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int) -> Response:
        return Response(LoanSerializer(services.loan_publish(loan_id=loan_id, borrower=request.user)).data)


class LoanCancelView(LoanActionView):
    role = "borrower"

    @_loan_action(
        "Cancel a loan before it is funded (borrower)",
        description="Every PENDING or ACCEPTED offer becomes REJECTED and its hold is released.",
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int) -> Response:
        return Response(LoanSerializer(services.loan_cancel(loan_id=loan_id, borrower=request.user)).data)


class LoanAcceptView(LoanActionView):
    role = "borrower"

    @_loan_action(
        "Accept an offer (borrower)",
        description="Accepts `offer_id`, or by default the best PENDING offer (lowest rate, then oldest). Every other PENDING offer is rejected and released. An `offer_id` that is not an offer on this loan is 400; one that is not PENDING is 409 `invalid_state`.",
        request=AcceptSerializer,
        statuses=(404, 403, 400),
        example=examples.LOAN_ACCEPTED,
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int) -> Response:
        data = validated(
            AcceptSerializer,
            request,
            view=self,
        )
        return Response(LoanSerializer(services.loan_accept(loan_id=loan_id, borrower=request.user, **data)).data)


class LoanFundView(LoanActionView):
    role = "lender"

    @_loan_action(
        "Fund an accepted loan (its lender)",
        description="The lender pays `total_loan_amount` out of the offer's hold: the borrower receives `amount`, the platform `lenme_fee`; the schedule is created.",
        response=LoanDetailSerializer,
        example=examples.LOAN_FUNDED,
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int) -> Response:
        return Response(LoanDetailSerializer(services.loan_fund(loan_id=loan_id, lender=request.user)).data)


class LoanAutopayView(LoanActionView):
    role = "borrower"

    @_loan_action("Turn autopay on or off (borrower)", request=AutopaySerializer, statuses=(404, 403, 400))
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int) -> Response:
        data = validated(
            AutopaySerializer,
            request,
            view=self,
        )
        return Response(LoanSerializer(services.loan_autopay_set(loan_id=loan_id, borrower=request.user, **data)).data)


class OfferListCreateView(LoanActionView):
    role = "not_borrower"
    pagination_class = generics.ListAPIView.pagination_class

    @extend_schema(
        tags=["offers"],
        summary="Offers on a loan, lowest rate first then oldest",
        description="The borrower sees every offer but REJECTED ones; anyone else only their own.",
        responses={200: OfferSerializer(many=True), **errors(404, 400)},
    )
    def get(self, request: Request, loan_id: int) -> Response:
        loan = selectors.loan_get(loan_id=loan_id, user=request.user)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.offer_list(loan=loan, user=request.user), request, view=self)
        return paginator.get_paginated_response(OfferSerializer(page, many=True).data)

    @extend_schema(
        tags=["offers"],
        summary="Make an offer (any user but the borrower)",
        description="Reserves `total_loan_amount` of the lender's available balance. A rate above the loan's requested maximum is 400.",
        request=OfferCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: OfferSerializer,
            **errors(
                404, 403, 400, conflicts=("invalid_state", "duplicate_offer", "insufficient_funds"), idempotent=True
            ),
        },
        examples=[
            OpenApiExample("Offer at 15%", value={"interest_rate": "15.00"}, request_only=True),
            examples.OFFER_CREATED,
            examples.INSUFFICIENT_FUNDS,
        ],
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int) -> Response:
        data = validated(
            OfferCreateSerializer,
            request,
            view=self,
        )
        offer = services.offer_submit(loan_id=loan_id, lender=request.user, **data)
        return Response(OfferSerializer(offer).data, status=status.HTTP_201_CREATED)


class OfferWithdrawView(LoanActionView):
    role = "offer_lender"

    @_loan_action("Withdraw a PENDING offer (its lender)", response=OfferSerializer, tag="offers")
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int, offer_id: int) -> Response:
        return Response(
            OfferSerializer(services.offer_withdraw(loan_id=loan_id, offer_id=offer_id, lender=request.user)).data
        )


class OfferRejectView(LoanActionView):
    role = "borrower"

    @_loan_action("Reject a PENDING offer (borrower)", response=OfferSerializer, tag="offers")
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int, offer_id: int) -> Response:
        return Response(
            OfferSerializer(services.offer_reject(loan_id=loan_id, offer_id=offer_id, borrower=request.user)).data
        )


class PaymentListView(APIView):
    @extend_schema(
        tags=["payments"],
        summary="The loan's schedule, by number (borrower or lender)",
        description="A plain array, not paginated (at most 360 rows).",
        responses={200: PaymentSerializer(many=True), **errors(404, 403)},
    )
    def get(self, request: Request, loan_id: int) -> Response:
        loan = selectors.loan_get(loan_id=loan_id, user=request.user)
        return Response(PaymentSerializer(selectors.payment_list(loan=loan, user=request.user), many=True).data)


class PaymentPayView(LoanActionView):
    role = "borrower"

    @_loan_action(
        "Pay the earliest unpaid installment (borrower)",
        description="Pays `amount + late_fee` to the lender; the last installment completes the loan.",
        conflicts=("already_paid", "out_of_order", "insufficient_funds"),
        response=PaymentSerializer,
        example=examples.PAYMENT_PAID,
        tag="payments",
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int, payment_id: int) -> Response:
        payment = services.payment_pay(loan_id=loan_id, payment_id=payment_id, borrower=request.user)
        return Response(PaymentSerializer(payment).data)


class NotificationListView(generics.ListAPIView):
    serializer_class = NotificationSerializer

    @extend_schema(
        tags=["notifications"],
        summary="The caller's notifications, newest first",
        responses={200: NotificationSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.notification_list(user=self.request.user)


class NotificationReadView(ActionView):
    @extend_schema(
        tags=["notifications"],
        summary="Mark a notification read",
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: NotificationSerializer, **errors(404, idempotent=True)},
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def precheck(self, request: Request, notification_id: int) -> None:
        selectors.notification_get(notification_id=notification_id, user=request.user)

    def act(self, request: Request, notification_id: int) -> Response:
        return Response(
            NotificationSerializer(services.notification_read(notification_id=notification_id, user=request.user)).data
        )


__all__ = ["LoanStatus"]
