"""POST /api/auth/register/ and /api/auth/token/: shapes, password validators, taken usernames, the
platform account, and hostile bodies."""

import pytest
from django.contrib.auth import get_user_model

from tests.accounts.api_helpers import (
    assert_problem,
    post,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STRONG = "s3cure-Passw0rd!"


def register(api, **body):
    return post(api, "/api/auth/register/", body)


def test_register_returns_id_username_email_and_a_working_token(api):
    response = register(api, username="alice", password=STRONG, email="alice@example.com")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "username", "email", "token"}
    assert type(body["id"]) is int and body["username"] == "alice" and body["email"] == "alice@example.com"
    assert isinstance(body["token"], str) and body["token"]
    me = api.get("/api/accounts/me/", HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert me.status_code == 200
    assert me.json() == {
        "id": body["id"],
        "username": "alice",
        "balance": "0.00",
        "reserved_balance": "0.00",
        "available_balance": "0.00",
    }


def test_register_without_email_gives_empty_email(api):
    response = register(api, username="bob", password=STRONG)

    assert response.status_code == 201, response.content
    assert response.json()["email"] == ""


@pytest.mark.parametrize(
    "password",
    ["short1!", "password123", "12345678901234", "alice-the-user"],
    ids=["too-short", "common", "numeric", "like-username"],
)
def test_register_runs_django_password_validators(api, password):
    response = register(api, username="alice-the-user", password=password)

    assert_problem(response, 400, "validation_error", field="password")
    assert not get_user_model().objects.filter(username="alice-the-user").exists()


@pytest.mark.parametrize("username", ["taken", "TAKEN", "Taken"])
def test_register_taken_username_any_case_is_400(api, username):
    UserFactory(username="taken")

    response = register(api, username=username, password=STRONG)

    assert_problem(response, 400, "validation_error", field="username")
    assert get_user_model().objects.filter(username__iexact="taken").count() == 1


@pytest.mark.parametrize("username", ["lenme", "LENME", "Lenme"])
def test_register_platform_username_is_taken(api, username):
    response = register(api, username=username, password=STRONG)

    assert_problem(response, 400, "validation_error", field="username")


@pytest.mark.parametrize("username", ["ＴＡＫＥＮ", "ｔａｋｅｎ", "ＬＥＮＭＥ", "ｌｅｎｍｅ"])
def test_register_fullwidth_variant_of_a_taken_name_is_400(api, username):
    """create_user stores usernames NFKC-normalized ("ＴＡＫＥＮ" -> "TAKEN"): the checks must see that."""
    UserFactory(username="taken")

    response = register(api, username=username, password=STRONG)

    assert_problem(response, 400, "validation_error", field="username")
    assert not get_user_model().objects.filter(username__in=["TAKEN", "LENME"]).exists()


def test_register_normalizes_a_new_fullwidth_username(api):
    response = register(api, username="ｃａｒｏｌ", password=STRONG)

    assert response.status_code == 201 and response.json()["username"] == "carol"
    assert post(api, "/api/auth/token/", {"username": "carol", "password": STRONG}).status_code == 200
    assert post(api, "/api/auth/token/", {"username": "ｃａｒｏｌ", "password": STRONG}).status_code == 200


def test_register_reports_a_taken_username_and_a_weak_password_together(api):
    UserFactory(username="taken")

    body = assert_problem(register(api, username="taken", password="123"), 400, "validation_error")

    assert {e["field"] for e in body["errors"]} == {"username", "password"}


def test_register_email_longer_than_the_column_is_400_not_500(api):
    email = "a" * 64 + "@" + ("b" * 60 + ".") * 4 + "com"  # well-formed, 311 characters

    assert_problem(register(api, username="erin", password=STRONG, email=email), 400, "validation_error", field="email")
    assert not get_user_model().objects.filter(username="erin").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": 5, "password": STRONG}, "username"),
        ({"username": ["alice"], "password": STRONG}, "username"),
        ({"username": None, "password": STRONG}, "username"),
        ({"username": "alice", "password": 12345678}, "password"),
        ({"username": "alice", "password": True}, "password"),
        ({"username": "alice", "password": {"a": 1}}, "password"),
        ({"username": "alice"}, "password"),
        ({"password": STRONG}, "username"),
        ({"username": "", "password": STRONG}, "username"),
        ({"username": "no spaces allowed", "password": STRONG}, "username"),
        ({"username": "x" * 151, "password": STRONG}, "username"),
        ({"username": "alice", "password": STRONG, "email": "not-an-email"}, "email"),
        ({"username": "alice", "password": STRONG, "email": 7}, "email"),
    ],
)
def test_register_rejects_wrongly_typed_or_invalid_fields(api, body, field):
    response = register(api, **body)

    assert_problem(response, 400, "validation_error", field=field)
    assert not get_user_model().objects.filter(username="alice").exists()


@pytest.mark.parametrize("raw", [b"[]", b'"alice"', b"42", b"null"])
def test_register_non_object_body_is_400(api, raw):
    response = api.post("/api/auth/register/", raw, content_type="application/json")

    assert_problem(response, 400, "validation_error", field=None)


def test_register_invalid_json_is_parse_error(api):
    response = api.post("/api/auth/register/", b'{"username": "alice",', content_type="application/json")

    assert_problem(response, 400, "parse_error")


def test_register_ignores_a_bad_token_header(api):
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = register(api, username="carol", password=STRONG)

    assert response.status_code == 201, response.content


# Token ---------------------------------------------------------------------------------------------


def test_token_returns_a_new_working_token_and_the_registered_one_still_works(api):
    registered = register(api, username="dave", password=STRONG).json()

    response = post(api, "/api/auth/token/", {"username": "dave", "password": STRONG})

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"token"} and response.json()["token"] != registered["token"]
    for key in (registered["token"], response.json()["token"]):
        assert api.get("/api/accounts/me/", HTTP_AUTHORIZATION=f"Token {key}").json()["username"] == "dave"


@pytest.mark.parametrize(
    "username, password",
    [("dave", "wrong-password"), ("nobody", STRONG), ("DAVE", STRONG), ("dave", STRONG.upper())],
)
def test_token_wrong_credentials_is_400(api, username, password):
    register(api, username="dave", password=STRONG)

    response = post(api, "/api/auth/token/", {"username": username, "password": password})

    assert_problem(response, 400, "validation_error")


@pytest.mark.parametrize("password", ["", "anything", None])
def test_platform_user_cannot_obtain_a_token(api, password):
    response = post(api, "/api/auth/token/", {"username": "lenme", "password": password})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
    assert "token" not in response.json()


def test_platform_user_cannot_log_in_even_with_a_password_set(api):
    platform = get_user_model().objects.get(username="lenme")
    platform.set_password(STRONG)
    platform.save()

    response = post(api, "/api/auth/token/", {"username": "lenme", "password": STRONG})

    assert_problem(response, 400, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        {"username": 1, "password": STRONG},
        {"username": "dave", "password": 1},
        {"username": ["dave"], "password": STRONG},
        {"username": "dave", "password": False},
        {"username": "dave"},
        {},
    ],
)
def test_token_non_string_credentials_are_400(api, body):
    response = post(api, "/api/auth/token/", body)

    assert_problem(response, 400, "validation_error")


def test_token_invalid_json_is_parse_error(api):
    response = api.post("/api/auth/token/", b"{nope", content_type="application/json")

    assert_problem(response, 400, "parse_error")
