"""lenme.db.WriteBatch: a money step's writes as one PostgreSQL statement, each part's rows handed back."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Profile
from lenme.db import WriteBatch, save_fields
from loans.models import Notification
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_parts_run_as_one_statement_and_each_gets_its_own_rows_in_order():
    alice, bob = UserFactory(), UserFactory()
    got: dict[str, list] = {}
    batch = WriteBatch()
    first = batch.add(
        "INSERT INTO loans_notification (user_id, kind, message, read, created_at) "
        "VALUES (%s, 'loan_funded', 'a', false, now()), (%s, 'loan_funded', 'b', false, now()) RETURNING id",
        [alice.pk, bob.pk],
        then=lambda ids: got.__setitem__("inserted", ids),
    )
    batch.add(  # reads the first part's rows by name; returns nothing
        f"UPDATE loans_notification SET message = 'c' WHERE id = (SELECT min(id) FROM {first})",  # noqa: S608
        [],
    )
    batch.add(
        "SELECT id FROM accounts_profile WHERE user_id = %s FOR UPDATE", [bob.pk], then=got.setdefault("x", []).extend
    )
    with CaptureQueriesContext(connection) as captured:
        batch.execute()

    assert len(captured.captured_queries) == 1
    rows = list(Notification.objects.order_by("id").values_list("id", "user_id", "message"))
    assert got["inserted"] == [rows[0][0], rows[1][0]]
    # Parts read one snapshot: the UPDATE found the row its neighbour inserted only through RETURNING.
    assert [(r[1], r[2]) for r in rows] == [(alice.pk, "a"), (bob.pk, "b")]
    assert got["x"] == [Profile.objects.get(user=bob).pk]
    batch.execute()  # emptied: a second run sends nothing
    assert len(got["inserted"]) == 2


def test_a_failing_part_writes_nothing_at_all():
    alice = UserFactory()
    batch = WriteBatch()
    batch.add(
        "INSERT INTO loans_notification (user_id, kind, message, read, created_at) "
        "VALUES (%s, 'loan_funded', 'a', false, now()) RETURNING id",
        [alice.pk],
        then=lambda ids: None,
    )
    batch.add("UPDATE accounts_profile SET balance = -1 WHERE user_id = %s", [alice.pk])  # a CHECK refuses it
    with pytest.raises(IntegrityError), transaction.atomic():
        batch.execute()
    assert not Notification.objects.exists()
    assert Profile.objects.get(user=alice).balance >= 0


def test_save_fields_in_a_batch_still_refuses_a_row_that_is_gone():
    alice = UserFactory()
    profile = Profile.objects.get(user=alice)
    profile.pk = 10**9  # no such row
    batch = WriteBatch()
    save_fields(profile, ["balance"], batch=batch)
    with pytest.raises(DatabaseError, match="did not affect any rows"), transaction.atomic():
        batch.execute()
