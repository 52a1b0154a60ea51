"""The README's demo: `manage.py seed_demo` is idempotent and prints one eval-able line, and
scripts/walkthrough.sh (the README's curl walkthrough) passes against a real server."""

import io
import os
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Sum

from accounts.models import AuthToken, Profile, Transaction
from accounts.tokens import key_digest
from loans.models import Note

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "walkthrough.sh"
README = ROOT / "README.md"
EXPORT = re.compile(r"^export BORROWER_TOKEN=(\w+) LENDER_TOKEN=(\w+) LENDER2_TOKEN=(\w+)\n$")
TARGETS = {"demo_borrower": Decimal("1000.00"), "demo_lender": Decimal("10000.00"), "demo_lender2": Decimal("10000.00")}


def seed() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def balances() -> dict[str, Decimal]:
    return {
        p.user.username: p.balance for p in Profile.objects.select_related("user").filter(user__username__in=TARGETS)
    }


def ledger_sum(username: str) -> Decimal:
    received = Transaction.objects.filter(to_user__username=username).aggregate(s=Sum("amount"))["s"] or 0
    sent = Transaction.objects.filter(from_user__username=username).aggregate(s=Sum("amount"))["s"] or 0
    return received - sent


@pytest.mark.django_db
def test_seed_demo_prints_one_export_line_of_tokens_on_stdout():
    out, err = seed()

    match = EXPORT.match(out)
    assert match, out
    users = get_user_model().objects
    for username, key in zip(TARGETS, match.groups(), strict=True):
        assert AuthToken.objects.get(digest=key_digest(key)).user == users.get(username=username)
    assert "demo_borrower" in err and "demo-borrower-pass" in err  # credentials for humans, on stderr


@pytest.mark.django_db
def test_seed_demo_users_can_log_in_with_the_printed_passwords(api):
    seed()

    response = api.post("/api/auth/token/", {"username": "demo_lender", "password": "demo-lender-pass"}, format="json")

    assert response.status_code == 200
    token = response.json()["token"]
    assert AuthToken.objects.get(digest=key_digest(token)).user.username == "demo_lender"


@pytest.mark.django_db
def test_seed_demo_twice_changes_nothing():
    first, _ = seed()
    after_first = (balances(), Transaction.objects.count())

    second, _ = seed()

    assert EXPORT.match(second) and second != first  # fresh tokens (only digests are stored) ...
    for key in EXPORT.match(first).groups():  # ... and the first run's still work
        assert AuthToken.objects.filter(digest=key_digest(key)).exists()
    assert (balances(), Transaction.objects.count()) == after_first
    assert balances() == TARGETS
    for username, target in TARGETS.items():
        assert ledger_sum(username) == target  # deposited through the service: the ledger balances


@pytest.mark.django_db
def test_seed_demo_tops_up_only_what_was_spent():
    seed()
    borrower = get_user_model().objects.get(username="demo_borrower")
    from accounts.services import account_withdraw

    account_withdraw(user=borrower, amount=Decimal("221.00"))

    seed()

    assert balances()["demo_borrower"] == Decimal("1000.00")
    deposits = Transaction.objects.filter(to_user=borrower, kind="deposit").order_by("id")
    assert [t.amount for t in deposits] == [Decimal("1000.00"), Decimal("221.00")]
    assert ledger_sum("demo_borrower") == Decimal("1000.00")


@pytest.mark.django_db
def test_seed_demo_keeps_a_balance_above_target():
    seed()
    lender = get_user_model().objects.get(username="demo_lender")
    from accounts.services import account_deposit

    account_deposit(user=lender, amount=Decimal("500.00"))
    count = Transaction.objects.count()

    seed()

    assert balances()["demo_lender"] == Decimal("10500.00")
    assert Transaction.objects.count() == count


def test_eval_of_seed_demo_output_sets_the_variables():
    """The stdout line is valid shell: `eval "$(manage.py seed_demo)"` exports the three tokens."""
    line = "export BORROWER_TOKEN=abc LENDER_TOKEN=def LENDER2_TOKEN=ghi\n"
    assert EXPORT.match(line)
    result = subprocess.run(  # noqa: S603
        ["bash", "-c", 'eval "$SEED"; echo "$BORROWER_TOKEN $LENDER_TOKEN $LENDER2_TOKEN"'],
        env={**os.environ, "SEED": line},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["abc", "def", "ghi"]


needs_tools = pytest.mark.skipif(
    not (shutil.which("bash") and shutil.which("curl") and shutil.which("python3")),
    reason="the walkthrough needs bash, curl and python3",
)


@needs_tools
@pytest.mark.django_db(transaction=True)
def test_walkthrough_script_passes_against_a_live_server(live_server):
    out, _ = seed()
    borrower_token, lender_token, lender2_token = EXPORT.match(out).groups()

    result = subprocess.run(  # noqa: S603
        ["bash", str(SCRIPT)],
        env={
            **os.environ,
            "BASE_URL": live_server.url,
            "BORROWER_TOKEN": borrower_token,
            "LENDER_TOKEN": lender_token,
            "LENDER2_TOKEN": lender2_token,  # part 2: two lenders fund one loan
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("walkthrough: OK")
    # Part 1: 1000.00 + 5000.00 - 5221.00 and 10000.00 - 5003.75 + 5221.00; part 2: the borrower repays
    # 1021.77 for 1000.00, the lenders get 612.56 for 602.25 and 409.21 for 401.50; part 3: the borrower
    # pays 7.50 of interest (4.50 + 3.00, the first period's), the lenders earn it less 2.50 and 1.25 of fee.
    assert balances() == {
        "demo_borrower": Decimal("779.00") + Decimal("1000.00") - Decimal("1021.77") - Decimal("7.50"),
        "demo_lender": Decimal("10217.25") - Decimal("602.25") + Decimal("612.56") + Decimal("4.50") - Decimal("2.50"),
        "demo_lender2": Decimal("10000.00") - Decimal("401.50") + Decimal("409.21") + Decimal("3.00") - Decimal("1.25"),
    }
    assert Note.objects.count() == 5  # one for the v1 loan, two for part 2, two for part 3
    for username in TARGETS:
        assert ledger_sum(username) == balances()[username]


@needs_tools
@pytest.mark.django_db(transaction=True)
def test_walkthrough_script_fails_on_a_bad_token(live_server):
    seed()

    result = subprocess.run(  # noqa: S603
        ["bash", str(SCRIPT)],
        env={
            **os.environ,
            "BASE_URL": live_server.url,
            "BORROWER_TOKEN": "wrong",
            "LENDER_TOKEN": "wrong",
            "LENDER2_TOKEN": "wrong",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "answered 401" in result.stderr


def readme_walkthrough() -> str:
    text = README.read_text()
    start = text.index("<!-- walkthrough:start -->")
    end = text.index("<!-- walkthrough:end -->")
    return "\n".join(re.findall(r"```(?:sh|bash)\n(.*?)```", text[start:end], re.S))


def curl_steps(shell: str) -> list[tuple[str, str]]:
    """(method, path) of each curl call, with ids and variables normalised."""
    steps = []
    for line in shell.replace("\\\n", " ").splitlines():
        for call in re.findall(r"curl [^|)]*", line):
            method = re.search(r"-X (\w+)", call)
            path = re.search(r"(?:\$BASE|\$\{BASE\})(/api/[^\"' ]*)|\"\$path\"", call)
            if path and path.group(1):
                normalised = re.sub(r"\$\w+", "{}", path.group(1))
                steps.append((method.group(1) if method else "GET", normalised))
    return steps


def script_steps() -> list[tuple[str, str]]:
    steps = []
    for method, path in re.findall(r"call \d{3} (GET|POST) \"?([^\" ]+)", SCRIPT.read_text()):
        steps.append((method, re.sub(r"\$\w+", "{}", path)))
    return steps


def test_readme_walkthrough_and_script_make_the_same_calls():
    readme = curl_steps(readme_walkthrough())
    script = script_steps()

    assert readme, "README walkthrough not found"
    assert readme == script
