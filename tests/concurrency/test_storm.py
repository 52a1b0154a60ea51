"""A storm: 24 users in 24 threads fire 600+ random requests at every endpoint of the live server at
once (with Idempotency-Key retries mixed in). Afterwards no response was 5xx, every stored replay was
byte-identical, and the ledger audit is clean."""

import io
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.models import Profile
from loans.models import Loan
from tests.concurrency.conftest import Api, Reply, assert_audit_clean, show

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

USERS = 24
OPS_PER_USER = 35  # 840 operations in all
SEED = 20240601


@dataclass
class World:
    """What the threads have learnt from responses: the targets they pick their next request from."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    loans: dict[int, dict] = field(default_factory=dict)  # id -> {"borrower", "lender", "status"}
    offers: dict[int, dict] = field(default_factory=dict)  # id -> {"loan", "lender"}
    payments: dict[int, list[int]] = field(default_factory=dict)  # loan id -> payment ids by number
    paid: set[int] = field(default_factory=set)
    notifications: dict[int, list[int]] = field(default_factory=dict)  # user id -> ids
    figures: Counter = field(default_factory=Counter)

    def note(self, reply: Reply) -> None:
        body = reply.body if isinstance(reply.body, dict) else {}
        with self.lock:
            if reply.status >= 400 or not body:
                return
            if "term_months" in body and "borrower" in body:  # a Loan
                self.loans[body["id"]] = {
                    "borrower": body["borrower"],
                    "lender": body["lender"],
                    "status": body["status"],
                }
                if body.get("payments"):
                    self.payments[body["id"]] = [p["id"] for p in body["payments"]]
            elif "reserved_amount" in body and "lender" in body:  # an Offer
                self.offers[body["id"]] = {"loan": body["loan"], "lender": body["lender"]}
                loan = self.loans.get(body["loan"])
                if loan and body["status"] == "PENDING" and loan.get("status") == "OPEN":
                    loan["status"] = "OFFERED"
            elif "loan_status" in body and "loan" in body:  # a Payment
                if body.get("paid"):
                    self.paid.add(body["id"])
                self.loans.setdefault(body["loan"], {})["status"] = body["loan_status"]


class Player:
    """One user's random walk over the API."""

    def __init__(self, world: World, api: Api, user_id: int, seed: int):
        self.world, self.api, self.me, self.rng = world, api, user_id, random.Random(seed)

    # Targets -------------------------------------------------------------------------------------
    def _loan(self, **match) -> int | None:
        with self.world.lock:
            ids = [i for i, loan in self.world.loans.items() if all(loan.get(k) == v for k, v in match.items())]
        return self.rng.choice(ids) if ids else None

    def _any_loan(self) -> int | None:
        with self.world.lock:
            ids = list(self.world.loans)
        return self.rng.choice(ids) if ids else None

    def _offer(self, **match) -> tuple[int, dict] | None:
        with self.world.lock:
            items = [(i, o) for i, o in self.world.offers.items() if all(o.get(k) == v for k, v in match.items())]
        return self.rng.choice(items) if items else None

    # One operation --------------------------------------------------------------------------------
    def post(self, path: str, body: object = None) -> Reply:
        """A POST, a third of them with an Idempotency-Key, some of those sent twice (a client retry)."""
        key = f"storm-{self.me}-{self.rng.getrandbits(48):x}" if self.rng.random() < 0.35 else None
        first = self.api.post(path, body, key=key)
        self.world.note(first)
        if key is not None and self.rng.random() < 0.3:
            again = self.api.post(path, body, key=key)
            with self.world.lock:
                if first.status == 400 or first.status >= 500 or first.code in ("conflict", "idempotency_in_flight"):
                    self.world.figures["retries re-executed (first not stored)"] += 1
                else:
                    assert again.status == first.status and again.raw == first.raw, (first.raw, again.raw)
                    assert again.headers.get("idempotent-replayed") == "true"
                    self.world.figures["replays verified byte-identical"] += 1
        return first

    def step(self) -> str:
        actions = [
            (6, self.deposit),
            (3, self.withdraw),
            (9, self.create),
            (16, self.offer),
            (2, self.offer_withdraw),
            (2, self.offer_reject),
            (10, self.accept),
            (12, self.fund),
            (14, self.pay),
            (2, self.cancel),
            (2, self.autopay),
            (2, self.notification_read),
            (3, self.invalid),
            (17, self.read),
        ]
        action = self.rng.choices([a for _, a in actions], weights=[w for w, _ in actions])[0]
        return action() or self.read()

    def deposit(self) -> str:
        self.post("/api/accounts/deposit/", {"amount": f"{self.rng.randint(50, 800)}.{self.rng.randint(0, 99):02d}"})
        return "deposit"

    def withdraw(self) -> str:
        self.post("/api/accounts/withdraw/", {"amount": f"{self.rng.randint(1, 400)}.00"})
        return "withdraw"

    def invalid(self) -> str:
        self.post("/api/accounts/deposit/", {"amount": self.rng.choice(["-1.00", "0", "1.001", "1e3", "abc"])})
        return "invalid deposit"

    def create(self) -> str:
        rng = self.rng
        body = {"amount": f"{rng.choice([100, 250, 400, 600])}.00", "term_months": rng.choice([1, 2, 3, 6])}
        if rng.random() < 0.7:
            body["interest_rate"] = f"{rng.randint(5, 30)}.00"
        if rng.random() < 0.15:
            reply = self.post("/api/loans/", {**body, "draft": True})
            if reply.status == 201:
                self.post(f"/api/loans/{reply.body['id']}/publish/")
            return "create draft + publish"
        self.post("/api/loans/", body)
        return "create"

    def offer(self) -> str | None:
        loan_id = self._loan(status="OPEN") or self._loan(status="OFFERED") or self._any_loan()
        if loan_id:
            self.post(f"/api/loans/{loan_id}/offers/", {"interest_rate": f"{self.rng.randint(3, 25)}.00"})
            return "offer"
        return None

    def offer_withdraw(self) -> str | None:
        mine = self._offer(lender=self.me)
        if mine:
            self.post(f"/api/loans/{mine[1]['loan']}/offers/{mine[0]}/withdraw/")
            return "offer withdraw"
        return None

    def offer_reject(self) -> str | None:
        theirs = self._offer()
        if theirs:
            self.post(f"/api/loans/{theirs[1]['loan']}/reject/{theirs[0]}/")
            return "offer reject"
        return None

    def accept(self) -> str | None:
        loan_id = self._loan(borrower=self.me, status="OFFERED") or self._loan(borrower=self.me)
        if loan_id:
            mine = self._offer(loan=loan_id)
            body = {"offer_id": mine[0]} if mine and self.rng.random() < 0.3 else {}
            self.post(f"/api/loans/{loan_id}/accept/", body)
            return "accept"
        return None

    def fund(self) -> str | None:
        loan_id = self._loan(lender=self.me, status="ACCEPTED") or self._loan(lender=self.me)
        if loan_id:
            self.post(f"/api/loans/{loan_id}/fund/")
            return "fund"
        return None

    def pay(self) -> str | None:
        loan_id = self._loan(borrower=self.me, status="FUNDED")
        with self.world.lock:
            unpaid = [p for p in self.world.payments.get(loan_id, []) if p not in self.world.paid]
            paid = [p for p in self.world.payments.get(loan_id, []) if p in self.world.paid]
        if not unpaid:
            return None
        roll = self.rng.random()
        # Mostly the earliest unpaid installment; sometimes a later one, or one already paid.
        payment_id = unpaid[0] if roll < 0.75 or len(unpaid) == 1 else self.rng.choice(unpaid[1:])
        if roll > 0.92 and paid:
            payment_id = self.rng.choice(paid)
        self.post(f"/api/loans/{loan_id}/payments/{payment_id}/pay/")
        return "pay"

    def cancel(self) -> str | None:
        loan_id = self._loan(borrower=self.me)
        if loan_id:
            self.post(f"/api/loans/{loan_id}/cancel/")
            return "cancel"
        return None

    def autopay(self) -> str | None:
        loan_id = self._loan(borrower=self.me)
        if loan_id:
            self.post(f"/api/loans/{loan_id}/autopay/", {"enabled": self.rng.random() < 0.5})
            return "autopay"
        return None

    def notification_read(self) -> str | None:
        with self.world.lock:
            ids = list(self.world.notifications.get(self.me, []))
        if ids:
            self.post(f"/api/notifications/{self.rng.choice(ids)}/read/")
            return "notification read"
        return None

    def read(self) -> str:
        rng, loan_id = self.rng, self._any_loan()
        choice = rng.randrange(10)
        if choice == 0:
            self.api.get("/api/accounts/me/")
        elif choice == 1:
            self.api.get("/api/transactions/")
        elif choice == 2:
            self.api.get(f"/api/loans/?role={rng.choice(['borrower', 'lender'])}")
        elif choice == 3:
            reply = self.api.get("/api/loans/available/?ordering=-amount")
            for loan in reply.body.get("results", []) if reply.status == 200 else []:
                self.world.note(Reply("GET", "", 200, loan, {}, b""))
        elif choice == 4 and loan_id:
            self.world.note(self.api.get(f"/api/loans/{loan_id}/"))
        elif choice == 5 and loan_id:
            self.api.get(f"/api/loans/{loan_id}/offers/")
        elif choice == 6 and loan_id:
            self.api.get(f"/api/loans/{loan_id}/payments/")
        elif choice == 7:
            self.api.get(f"/api/loans/quote/?amount={rng.randint(10, 900)}.00&term_months=6&interest_rate=12.50")
        else:
            reply = self.api.get("/api/notifications/")
            if reply.status == 200:
                with self.world.lock:
                    self.world.notifications[self.me] = [n["id"] for n in reply.body["results"]]
        return "read"


def test_storm_of_random_operations_keeps_the_ledger_exact(harness, capsys):
    rng = random.Random(SEED)
    users = [harness.user(f"storm{i}", f"{rng.randint(300, 3000)}.00") for i in range(USERS)]
    world = World()
    players = [Player(world, harness.api(u), u.pk, SEED + i) for i, u in enumerate(users)]
    barrier = threading.Barrier(USERS)
    operations: Counter = Counter()
    errors: list[BaseException] = []
    ops_lock = threading.Lock()

    def play(index: int, player: Player) -> None:
        from django.db import connection

        try:
            barrier.wait(timeout=30)
            if index == 0:  # the endpoints nobody else reaches: register, token, the schema
                anon = Api(harness.base_url, harness.recorder)
                anon.post("/api/auth/register/", {"username": "storm-newcomer", "password": "a-l0ng-Passw0rd!"})
                anon.post("/api/auth/token/", {"username": "storm-newcomer", "password": "a-l0ng-Passw0rd!"})
                with ops_lock:
                    operations["register+token"] += 2
            for _ in range(OPS_PER_USER):
                kind = player.step()
                with ops_lock:
                    operations[kind] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=play, args=(i, p)) for i, p in enumerate(players)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=110)
    elapsed = time.monotonic() - started
    assert not errors, errors[0]

    replies = harness.recorder.replies
    statuses = Counter(r.status for r in replies)
    conflicts = Counter(r.code for r in replies if r.status == 409)
    assert not harness.recorder.server_errors(), harness.recorder.server_errors()[:3]
    assert len(replies) >= 500 and len(users) >= 20
    assert sum(operations.values()) >= 500
    checks = assert_audit_clean()
    for profile in Profile.objects.all():
        assert 0 <= profile.reserved_balance <= profile.balance
    loan_states = Counter(Loan.objects.values_list("status", flat=True))
    assert loan_states["FUNDED"] + loan_states["COMPLETED"] > 0, "the storm never funded a loan"

    show(
        capsys,
        f"storm: {USERS} users, {sum(operations.values())} operations, {len(replies)} HTTP requests in {elapsed:.1f}s",
        {
            "statuses": dict(sorted(statuses.items())),
            "conflicts by code": dict(conflicts.most_common()),
            "operations": dict(operations.most_common()),
            "idempotency": dict(world.figures),
            "loans by status": dict(loan_states),
            "invariant checks": checks,
            "money in": f"{sum(p.balance for p in Profile.objects.all()):.2f}",
        },
    )
    assert Decimal(0) <= min(p.balance for p in Profile.objects.all())

    # What CI shows after the concurrency tests: the audit command's own summary of the storm's ledger.
    out = io.StringIO()
    call_command("audit_ledger", stdout=out)
    with capsys.disabled():
        print(out.getvalue())
