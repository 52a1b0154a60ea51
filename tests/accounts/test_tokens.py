"""Tokens are secrets (API.md Auth v2): only digests are stored, no admin page shows a usable token,
logout revokes the caller's token, a password change revokes every earlier one, and the legacy DRF
keys are migrated to digests so no client is logged out."""

import hashlib
import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuthToken
from tests.accounts.api_helpers import assert_problem, post
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STRONG = "s3cure-Passw0rd!"
NEW = "an0ther-L0ng-secret"
migration = importlib.import_module("accounts.migrations.0004_auth_token_digests")


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def register(api, username="erin", password=STRONG) -> str:
    response = post(api, "/api/auth/register/", {"username": username, "password": password})
    assert response.status_code == 201, response.content
    return response.json()["token"]


def sign_in(api, username="erin", password=STRONG) -> str:
    response = post(api, "/api/auth/token/", {"username": username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()["token"]


def me(api, key: str) -> int:
    return api.get("/api/accounts/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code


def database_text() -> str:
    """Every value of every token row, as text: a usable key must not be among them."""
    return repr(list(AuthToken.objects.values_list()))


# Digests only --------------------------------------------------------------------------------------


def test_the_database_keeps_only_a_digest_of_each_token(api):
    keys = [register(api), sign_in(api)]

    rows = AuthToken.objects.filter(user__username="erin")
    assert sorted(rows.values_list("digest", flat=True)) == sorted(sha256(k) for k in keys)
    for key in keys:
        assert key not in database_text()
        assert me(api, key) == 200


def test_a_digest_read_from_the_database_is_not_a_usable_token(api):
    register(api)
    digest = AuthToken.objects.get().digest

    assert me(api, digest) == 401
    assert me(api, digest[:40]) == 401


def test_token_authentication_is_one_indexed_lookup_joined_with_the_user(api):
    key = register(api)

    with CaptureQueriesContext(connection) as captured:
        assert me(api, key) == 200

    token_queries = [q["sql"] for q in captured.captured_queries if "accounts_authtoken" in q["sql"]]
    assert len(token_queries) == 1, token_queries
    assert "auth_user" in token_queries[0] and sha256(key) in token_queries[0]
    assert AuthToken._meta.get_field("digest").unique  # the lookup is by a unique index


# Logout --------------------------------------------------------------------------------------------


def test_logout_revokes_the_callers_token_at_once_and_only_it(api):
    first, second = register(api), sign_in(api)

    response = api.post("/api/auth/logout/", HTTP_AUTHORIZATION=f"Token {first}")

    assert response.status_code == 204 and response.content == b""
    assert me(api, first) == 401
    assert me(api, second) == 200
    assert_problem(api.post("/api/auth/logout/", HTTP_AUTHORIZATION=f"Token {first}"), 401, "authentication_failed")


def test_logout_needs_a_token(api):
    assert_problem(api.post("/api/auth/logout/"), 401, "not_authenticated")


def test_logout_ignores_idempotency_key(api):
    key = register(api)

    response = api.post("/api/auth/logout/", HTTP_AUTHORIZATION=f"Token {key}", HTTP_IDEMPOTENCY_KEY="not valid\x01")

    assert response.status_code == 204
    assert me(api, key) == 401


# Password change -----------------------------------------------------------------------------------


def change(api, key: str, old: str, new: str, **extra):
    return post(
        api,
        "/api/auth/password/",
        {"old_password": old, "new_password": new},
        HTTP_AUTHORIZATION=f"Token {key}",
        **extra,
    )


def test_password_change_revokes_every_earlier_token_and_answers_a_new_one(api):
    earlier = [register(api), sign_in(api), sign_in(api)]
    other = register(api, username="frank")

    response = change(api, earlier[1], STRONG, NEW)

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"token"}
    new_key = response.json()["token"]
    assert all(me(api, key) == 401 for key in earlier)
    assert me(api, new_key) == 200
    assert me(api, other) == 200  # other users keep theirs
    assert AuthToken.objects.filter(user__username="erin").count() == 1
    assert_problem(post(api, "/api/auth/token/", {"username": "erin", "password": STRONG}), 400, "validation_error")
    assert me(api, sign_in(api, password=NEW)) == 200


def test_a_wrong_old_password_is_400_and_changes_nothing(api):
    key = register(api)

    assert_problem(change(api, key, "not-my-password", NEW), 400, "validation_error", field="old_password")
    assert me(api, key) == 200
    assert me(api, sign_in(api)) == 200


@pytest.mark.parametrize("weak", ["short1!", "password123", "12345678901234"])
def test_the_new_password_goes_through_the_validators(api, weak):
    key = register(api)

    assert_problem(change(api, key, STRONG, weak), 400, "validation_error", field="new_password")
    assert me(api, key) == 200
    assert get_user_model().objects.get(username="erin").check_password(STRONG)


@pytest.mark.parametrize("body", [{}, {"old_password": STRONG}, {"new_password": NEW}, [], "x"])
def test_a_bad_password_body_is_400(api, body):
    key = register(api)

    response = post(api, "/api/auth/password/", body, HTTP_AUTHORIZATION=f"Token {key}")

    assert_problem(response, 400, "validation_error")
    assert me(api, key) == 200


def test_password_change_needs_a_token(api):
    assert_problem(
        post(api, "/api/auth/password/", {"old_password": STRONG, "new_password": NEW}), 401, "not_authenticated"
    )


def test_password_change_ignores_idempotency_key(api):
    key = register(api)

    response = change(api, key, STRONG, NEW, HTTP_IDEMPOTENCY_KEY="not valid\x01")

    assert response.status_code == 200, response.content
    assert me(api, key) == 401


# Admin ---------------------------------------------------------------------------------------------


@pytest.fixture
def view_only_staff(client):
    """The reviewer's attacker: staff with every view permission and nothing else."""
    staff = get_user_model().objects.create_user("viewer", password="viewer-password-123", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client.force_login(staff)
    return client


def test_no_admin_page_shows_a_usable_token(api, view_only_staff):
    keys = [register(api), sign_in(api), register(api, username="frank")]
    token = AuthToken.objects.order_by("pk").first()
    user = get_user_model().objects.get(username="erin")
    pages = [reverse("admin:index")]
    for model in django_apps.get_app_config("admin").module.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages.append(reverse(f"{prefix}_changelist"))
        obj = token if model is AuthToken else (user if model is get_user_model() else model.objects.first())
        if obj is not None:
            pages.append(reverse(f"{prefix}_change", args=[obj.pk]))
    assert reverse("admin:accounts_authtoken_changelist") in pages

    for page in pages:
        response = view_only_staff.get(page)
        assert response.status_code in (200, 403), (page, response.status_code)
        html = response.content.decode()
        for key in keys:
            assert key not in html, page
            assert sha256(key) not in html, page
    listing = view_only_staff.get(reverse("admin:accounts_authtoken_changelist")).content.decode()
    assert "erin" in listing and "frank" in listing  # who holds tokens is visible; the keys are not


def test_the_drf_token_admin_is_gone():
    from django.contrib import admin

    assert not [m for m in admin.site._registry if m._meta.app_label == "authtoken"]


# Migration of legacy keys --------------------------------------------------------------------------

EDITOR = SimpleNamespace(connection=connection)  # all the function uses of a schema editor
LEGACY_KEY = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def legacy_table():
    """The DRF authtoken table as an existing deployment has it, with one user's clear key."""
    user = UserFactory(username="legacy")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp NOT NULL, "
            "user_id integer NOT NULL UNIQUE)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [LEGACY_KEY, "2026-01-02 03:04:05", user.pk],
        )
    yield user


def test_the_migration_turns_legacy_keys_into_digests_so_clients_stay_logged_in(api, legacy_table):
    assert me(api, LEGACY_KEY) == 401  # before: the key is only in the legacy table

    moved = migration.legacy_tokens_to_digests(django_apps, EDITOR)

    assert moved == 1
    assert me(api, LEGACY_KEY) == 200
    token = AuthToken.objects.get(digest=sha256(LEGACY_KEY))
    assert token.user == legacy_table and token.created.year == 2026 and token.created.month == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0  # the clear keys are gone
    assert LEGACY_KEY not in database_text()


def test_the_migration_does_nothing_without_the_legacy_table():
    assert "authtoken_token" not in connection.introspection.table_names()

    assert migration.legacy_tokens_to_digests(django_apps, EDITOR) == 0


def test_request_auth_is_the_token_row_with_its_user_attached(api):
    """The authenticated pair is built from the one raw statement: request.auth holds the row's id,
    digest and user (already loaded, no query to reach it), as the ORM would have loaded them."""
    from rest_framework.test import APIRequestFactory

    from lenme.api.authentication import TokenAuthentication

    key = register(api)
    row = AuthToken.objects.get(digest=sha256(key))
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {key}")
    user, token = TokenAuthentication().authenticate(request)

    assert (token.pk, token.digest, token.user_id) == (row.pk, row.digest, row.user_id)
    assert token._state.adding is False and token._state.db == "default"
    with CaptureQueriesContext(connection) as queries:
        assert token.user is user
    assert len(queries) == 0
