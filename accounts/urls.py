"""Routes of accounts."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="register"),
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("auth/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("accounts/me/", views.MeView.as_view(), name="account-me"),
    path("accounts/deposit/", views.DepositView.as_view(), name="account-deposit"),
    path("accounts/withdraw/", views.WithdrawView.as_view(), name="account-withdraw"),
    path("transactions/", views.TransactionListView.as_view(), name="transaction-list"),
]
