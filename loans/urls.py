"""Routes of the lending flow: one URL per action."""

from django.urls import path

from loans import views

urlpatterns = [
    path("loans/", views.LoanListCreateView.as_view(), name="loan-list"),
    path("loans/available/", views.LoanAvailableView.as_view(), name="loan-available"),
    path("loans/quote/", views.LoanQuoteView.as_view(), name="loan-quote"),
    path("loans/<int:loan_id>/", views.LoanDetailView.as_view(), name="loan-detail"),
    path("loans/<int:loan_id>/publish/", views.LoanPublishView.as_view(), name="loan-publish"),
    path("loans/<int:loan_id>/cancel/", views.LoanCancelView.as_view(), name="loan-cancel"),
    path("loans/<int:loan_id>/accept/", views.LoanAcceptView.as_view(), name="loan-accept"),
    path("loans/<int:loan_id>/fund/", views.LoanFundView.as_view(), name="loan-fund"),
    path("loans/<int:loan_id>/autopay/", views.LoanAutopayView.as_view(), name="loan-autopay"),
    path("loans/<int:loan_id>/offers/", views.OfferListCreateView.as_view(), name="offer-list"),
    path(
        "loans/<int:loan_id>/offers/<int:offer_id>/withdraw/", views.OfferWithdrawView.as_view(), name="offer-withdraw"
    ),
    path("loans/<int:loan_id>/reject/<int:offer_id>/", views.OfferRejectView.as_view(), name="offer-reject"),
    path("loans/<int:loan_id>/payments/", views.PaymentListView.as_view(), name="payment-list"),
    path("loans/<int:loan_id>/payments/<int:payment_id>/pay/", views.PaymentPayView.as_view(), name="payment-pay"),
    path("loans/<int:loan_id>/payoff/", views.LoanPayoffView.as_view(), name="loan-payoff"),
    path("loans/<int:loan_id>/prepay/", views.LoanPrepayView.as_view(), name="loan-prepay"),
    path("loans/<int:loan_id>/notes/", views.LoanNoteListView.as_view(), name="loan-note-list"),
    path("notes/", views.NoteListView.as_view(), name="note-list"),
    path("notes/<int:note_id>/", views.NoteDetailView.as_view(), name="note-detail"),
    path("portfolio/", views.PortfolioView.as_view(), name="portfolio"),
    path("notifications/", views.NotificationListView.as_view(), name="notification-list"),
    path("notifications/<int:notification_id>/read/", views.NotificationReadView.as_view(), name="notification-read"),
]
