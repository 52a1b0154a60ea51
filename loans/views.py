"""HTTP endpoints of the lending flow: one view per action; parse, call one service, serialize."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lenme.api.represent import represent
from lenme.api.schema import IDEMPOTENCY_KEY, errors
from lenme.api.views import ActionView, validated, validated_later
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
    NoteDetailSerializer,
    NoteListQuerySerializer,
    NoteSerializer,
    NotificationSerializer,
    OfferCreateSerializer,
    OfferSerializer,
    PaymentSerializer,
    PayoffQuerySerializer,
    PayoffQuoteSerializer,
    PayoffSerializer,
    PortfolioSerializer,
    PrepaySerializer,
    QuoteQuerySerializer,
    QuoteSerializer,
)


def _ctx(request: Request) -> dict:
    """Serializer context: the Loan shape shows delinquency to the loan's parties only."""
    return {"request": request}


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
        return paginator.get_paginated_response(LoanSerializer(page, many=True, context=_ctx(request)).data)

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
        return Response(LoanSerializer(loan, context=_ctx(request)).data, status=status.HTTP_201_CREATED)


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
        return Response(LoanDetailSerializer(loan, context=_ctx(request)).data)


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
    examples_ = example if isinstance(example, list) else ([example] if example else None)
    return extend_schema(
        tags=[tag],
        summary=summary,
        description=description,
        request=request,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: response, **errors(*statuses, conflicts=conflicts, idempotent=True)},
        examples=examples_,
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
        return Response(
            LoanSerializer(services.loan_publish(loan_id=loan_id, borrower=request.user), context=_ctx(request)).data
        )


class LoanCancelView(LoanActionView):
    role = "borrower"

    @_loan_action(
        "Cancel a loan before it is funded (borrower)",
        description="Every PENDING or ACCEPTED offer becomes REJECTED and its hold is released.",
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int) -> Response:
        return Response(
            LoanSerializer(services.loan_cancel(loan_id=loan_id, borrower=request.user), context=_ctx(request)).data
        )


class LoanAcceptView(LoanActionView):
    role = "borrower"

    @_loan_action(
        "Accept offers (borrower)",
        description="Chooses the offers that fund the loan: by default every PENDING offer; with `offer_id`, that "
        "one; with (v2) `offer_ids`, those (both fields at once, an empty or repeated list, or an id that is not an "
        "offer on this loan: 400). The chosen offers are taken in order (lowest rate, then oldest, then lowest id), "
        "each filled with the lesser of its `amount` and what is still uncovered, until the loan's `amount` is "
        "covered; an offer filled in part stays one offer. A chosen offer that is not needed once the amount is "
        "covered is rejected and released like every other PENDING offer (a reading where the contract is "
        "silent). Each filled offer: ACCEPTED with `filled_amount` and `fee` (the fee split by largest remainder: "
        "`lenme_fee * filled_amount / amount` rounded down, the missing cents one each to the largest remainders, "
        "ties to the earlier filled) and its hold cut to `filled_amount + fee` at once. The loan: ACCEPTED with "
        "`lenders` in fill order, `lender` (that one id, or null with several), `interest_rate` the average of "
        "the filled rates weighted by `filled_amount`, half-up to two decimals. No PENDING offer, or a chosen "
        "offer not PENDING: 409 `invalid_state`; chosen amounts below the loan's `amount`: 409 `not_covered`; "
        "nothing changes on any error.",
        request=AcceptSerializer,
        statuses=(404, 403, 400),
        conflicts=("invalid_state", "not_covered"),
        example=[
            examples.THREE_NOTE_ACCEPT_REQUEST,
            examples.LOAN_ACCEPTED,
            examples.THREE_NOTE_ACCEPTED,
            examples.NOT_COVERED,
        ],
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int) -> Response:
        data = validated(
            AcceptSerializer,
            request,
            view=self,
        )
        return Response(
            LoanSerializer(
                services.loan_accept(loan_id=loan_id, borrower=request.user, **data), context=_ctx(request)
            ).data
        )


class LoanFundView(LoanActionView):
    role = "lender"

    @_loan_action(
        "Fund an accepted loan (each of its lenders)",
        description="With one accepted offer (v1): the lender pays `total_loan_amount` out of the offer's hold: the "
        "borrower receives `amount`, the platform `lenme_fee`; the schedule is created. (v2) With several, each "
        "lender of an accepted offer calls this (anyone else: 403): the call marks the caller's offer funded "
        "(`funded_at` set, the hold kept) and answers the Loan, still ACCEPTED, with `payments: []`; a lender who "
        "already funded: 409 `invalid_state`. The last lender's call funds the loan in that same transaction: "
        "each lender pays `filled_amount + fee` out of its hold (one `funding` row of `filled_amount` to the "
        "borrower and one `fee` row of `fee` to the platform per note, none for 0.00), the notes and the "
        "schedule (each note amortized on its own amount and rate; each installment the sum of its notes' rows) "
        "are created, and the answer is the Loan FUNDED with `payments`.",
        response=LoanDetailSerializer,
        example=examples.LOAN_FUNDED,
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int) -> Response:
        return Response(
            LoanDetailSerializer(services.loan_fund(loan_id=loan_id, lender=request.user), context=_ctx(request)).data
        )


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
        return Response(
            LoanSerializer(
                services.loan_autopay_set(loan_id=loan_id, borrower=request.user, **data), context=_ctx(request)
            ).data
        )


class OfferListCreateView(LoanActionView):
    role = "not_borrower"
    pagination_class = generics.ListAPIView.pagination_class

    @extend_schema(
        tags=["offers"],
        summary="Offers on a loan, lowest rate first then oldest",
        description="The borrower sees every offer but REJECTED ones; anyone else only their own.",
        responses={200: OfferSerializer(many=True), **errors(404, 400)},
        examples=[examples.THREE_NOTE_OFFERS],
    )
    def get(self, request: Request, loan_id: int) -> Response:
        loan = selectors.loan_get(loan_id=loan_id, user=request.user)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.offer_list(loan=loan, user=request.user), request, view=self)
        return paginator.get_paginated_response(OfferSerializer(page, many=True).data)

    @extend_schema(
        tags=["offers"],
        summary="Make an offer (any user but the borrower)",
        description="Reserves the offer's hold of the lender's available balance: `amount + fee_hold`, where "
        "`fee_hold` is `lenme_fee * amount / loan amount` rounded up to the cent (a whole-loan offer, `amount` "
        "left out as in v1, holds exactly `total_loan_amount`). A rate above the loan's requested maximum, or an "
        "`amount` outside min(LENME_MIN_NOTE, loan amount)..loan amount, is 400.",
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
            OpenApiExample(
                "Offer 1000.00 of it at 14%", value={"interest_rate": "14.00", "amount": "1000.00"}, request_only=True
            ),
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
        description="Pays `amount + late_fee` to the lender (v2: each note its row and late fee share); the last "
        "installment completes the loan. (v2) The loan may be FUNDED or DEFAULTED: on a DEFAULTED loan what the "
        "notes receive counts in their `recoveries`, and the last installment still completes the loan (notes "
        "REPAID, `charged_off_principal` kept). Every payment sets the loan's `days_past_due` again as of today. "
        "(v2) An installment paid on a day after its due date owes `LENME_LATE_FEE` once, whether or not a sweep "
        "has marked it overdue yet (`overdue` becomes true and `late_fee` includes it in the answer); a 0.00 "
        "installment never owes it and paying it moves nothing. A `settled` installment (after a payoff): 409 "
        "`already_paid`.",
        conflicts=("already_paid", "out_of_order", "insufficient_funds"),
        response=PaymentSerializer,
        example=examples.PAYMENT_PAID,
        tag="payments",
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int, payment_id: int) -> Response:
        payment = services.payment_pay(loan_id=loan_id, payment_id=payment_id, borrower=request.user)
        return Response(represent(PaymentSerializer, payment))


def _quote_body(loan_id: int, quote) -> dict:
    return {
        "loan": loan_id,
        "as_of": quote.as_of,
        "due_installments": quote.due_installments,
        "due_amount": quote.due_amount,
        "principal_outstanding": quote.principal_outstanding,
        "accrued_interest": quote.accrued_interest,
        "total": quote.total,
    }


class LoanPayoffView(LoanActionView):
    role = "borrower"

    @extend_schema(
        tags=["payments"],
        summary="(v2) Quote paying the loan off on a day (borrower or lender)",
        description=examples.PAYOFF_QUOTE_DESCRIPTION,
        parameters=[PayoffQuerySerializer],
        responses={200: PayoffQuoteSerializer, **errors(404, 403, 400, conflicts=("invalid_state",))},
        examples=[examples.PAYOFF_QUOTE_TWO_NOTES],
    )
    def get(self, request: Request, loan_id: int) -> Response:
        query, invalid = validated_later(PayoffQuerySerializer, request.query_params.dict())
        loan, quote = selectors.loan_payoff_quote_get(
            loan_id=loan_id, user=request.user, as_of=query.get("as_of"), invalid=invalid
        )
        return Response(PayoffQuoteSerializer(_quote_body(loan.pk, quote)).data)

    @_loan_action(
        "(v2) Pay the loan off today (borrower)",
        description=examples.PAYOFF_DESCRIPTION,
        request=PayoffSerializer,
        statuses=(404, 403, 400),
        conflicts=("invalid_state", "quote_changed", "insufficient_funds"),
        response=LoanDetailSerializer,
        example=[examples.PAYOFF_REQUEST, examples.LOAN_PAID_OFF, examples.QUOTE_CHANGED],
        tag="payments",
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int) -> Response:
        data = validated(PayoffSerializer, request, view=self)
        loan = services.loan_payoff(loan_id=loan_id, borrower=request.user, **data)
        return Response(LoanDetailSerializer(loan, context=_ctx(request)).data)


class LoanPrepayView(LoanActionView):
    role = "borrower"

    @_loan_action(
        "(v2) Pay extra principal now (borrower)",
        description=examples.PREPAY_DESCRIPTION,
        request=PrepaySerializer,
        statuses=(404, 403, 400),
        conflicts=("invalid_state", "out_of_order", "insufficient_funds"),
        response=LoanDetailSerializer,
        example=[examples.PREPAY_REQUEST, examples.LOAN_PREPAID],
        tag="payments",
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def act(self, request: Request, loan_id: int) -> Response:
        # The loan's state is checked before the amount (the contract): a bad amount is raised by the
        # service after its state check, under the loan's lock.
        if not isinstance(request.data, dict):
            validated(PrepaySerializer, request, view=self)  # a 400 after the 404/403 precheck
        body, invalid = validated_later(PrepaySerializer, request.data, context={"request": request})
        loan = services.loan_prepay(loan_id=loan_id, borrower=request.user, amount=body.get("amount"), invalid=invalid)
        return Response(LoanDetailSerializer(loan, context=_ctx(request)).data)


class NoteListView(generics.ListAPIView):
    serializer_class = NoteSerializer

    @extend_schema(
        tags=["notes"],
        summary="The caller's notes (as lender), newest first",
        parameters=[NoteListQuerySerializer],
        responses={200: NoteSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.note_list(user=self.request.user, **_query(NoteListQuerySerializer, self.request))


class NoteDetailView(APIView):
    @extend_schema(
        tags=["notes"],
        summary="A note with its row of each installment (its lender or its loan's borrower)",
        description="Anyone else: 404. `payments` lists the note's row of each installment; `late_fee` is its "
        "share of the installment's late fee (by the rows' amounts, largest remainder, ties to the lower note "
        "id), set when the installment is paid.",
        responses={200: NoteDetailSerializer, **errors(404)},
    )
    def get(self, request: Request, note_id: int) -> Response:
        return Response(NoteDetailSerializer(selectors.note_get(note_id=note_id, user=request.user)).data)


class LoanNoteListView(APIView):
    pagination_class = generics.ListAPIView.pagination_class

    @extend_schema(
        tags=["notes"],
        summary="The notes of a loan, by ascending id",
        description="The borrower sees every note, a lender (of an accepted offer or a note) its own; before "
        "funding the page is empty. Other users who can see the loan: 403.",
        responses={200: NoteSerializer(many=True), **errors(404, 403, 400)},
    )
    def get(self, request: Request, loan_id: int) -> Response:
        loan = selectors.loan_get(loan_id=loan_id, user=request.user)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.loan_note_list(loan=loan, user=request.user), request, view=self)
        return paginator.get_paginated_response(NoteSerializer(page, many=True).data)


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


class PortfolioView(APIView):
    @extend_schema(
        tags=["portfolio"],
        summary="(v2) The caller's standing as lender and as borrower",
        description="Every figure is computed from the caller's notes, note rows, installments and ledger rows "
        "(no stored counters), in a fixed number of queries whatever the number of notes. Only the caller's own "
        "figures: there is no way to ask for another user's.",
        responses={200: PortfolioSerializer, **errors()},
        examples=[examples.PORTFOLIO],
    )
    def get(self, request: Request) -> Response:
        return Response(PortfolioSerializer(selectors.portfolio_get(user=request.user)).data)


__all__ = ["LoanStatus"]
