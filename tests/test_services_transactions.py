"""Every write service owns its transaction (lenme.db.atomic_retry), so a job or a shell calling it
outside a request still locks and rolls back as one unit."""

import pytest

from accounts import services as account_services
from loans import services

WRITES = [
    services.loan_create, services.loan_publish, services.loan_cancel, services.loan_autopay_set,
    services.offer_submit, services.offer_withdraw, services.offer_reject, services.loan_accept,
    services.loan_fund, services.payment_pay, account_services.account_deposit, account_services.account_withdraw,
]  # fmt: skip


@pytest.mark.parametrize("service", WRITES, ids=lambda f: f.__name__)
def test_each_write_service_runs_in_its_own_retried_transaction(service):
    assert getattr(service, "__wrapped__", None) is not None, f"{service.__name__} is not @atomic_retry"
    assert service.__code__.co_filename.endswith("lenme/db.py")


def test_a_pure_helper_is_not_wrapped():
    assert not hasattr(services.offers.offer_hold, "__wrapped__")
