#!/usr/bin/env bash
# The README's curl walkthrough as a checked script: 5000.00 for 6 months at 15.00%, offered, accepted,
# funded, repaid in six installments, COMPLETED; then part 2 (v2 notes): two lenders fund one 1000.00 loan
# in parts and each is repaid by its own note; part 3 (v2): a 900.00 loan in two notes is prepaid in part,
# then paid off early. The balances must move by exactly the expected amounts.
#
#   eval "$(.venv/bin/python manage.py seed_demo)"   # sets BORROWER_TOKEN, LENDER_TOKEN, LENDER2_TOKEN
#   scripts/walkthrough.sh                           # BASE_URL defaults to http://127.0.0.1:8000
#
# Needs only curl and python3. Exits non-zero at the first step that does not answer as expected.
set -euo pipefail

BASE=${BASE_URL:-http://127.0.0.1:8000}
BASE=${BASE%/}
: "${BORROWER_TOKEN:?set BORROWER_TOKEN (eval \"\$(python manage.py seed_demo)\")}"
: "${LENDER_TOKEN:?set LENDER_TOKEN (eval \"\$(python manage.py seed_demo)\")}"
: "${LENDER2_TOKEN:?set LENDER2_TOKEN (eval \"\$(python manage.py seed_demo)\")}"
B="Authorization: Token $BORROWER_TOKEN"
L="Authorization: Token $LENDER_TOKEN"
L2="Authorization: Token $LENDER2_TOKEN"

BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT

fail() { echo "walkthrough: FAILED: $*" >&2; exit 1; }

# call EXPECTED_STATUS METHOD PATH AUTH_HEADER [JSON_BODY]: prints the response body.
call() {
  local expected=$1 method=$2 path=$3 auth=$4 data=${5-}
  local args=(-sS -o "$BODY" -w '%{http_code}' -X "$method" "$BASE$path" -H "Accept: application/json")
  [ -n "$auth" ] && args+=(-H "$auth")
  [ -n "$data" ] && args+=(-H 'Content-Type: application/json' -d "$data")
  local status
  status=$(curl "${args[@]}") || fail "$method $path: curl could not connect to $BASE"
  if [ "$status" != "$expected" ]; then
    cat "$BODY" >&2; echo >&2
    fail "$method $path answered $status, expected $expected"
  fi
  cat "$BODY"
}

# pick EXPRESSION: reads JSON on stdin as d and prints the Python expression, e.g. pick 'd["id"]'.
pick() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# expect ACTUAL WANTED WHAT
expect() { [ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"; echo "  ok: $3 = $1"; }

# money_delta BEFORE AFTER: AFTER - BEFORE with two decimals, in exact decimal arithmetic.
money_delta() { python3 -c "import sys; from decimal import Decimal as D; print(f'{D(sys.argv[2]) - D(sys.argv[1]):.2f}')" "$1" "$2"; }

echo "== 0. Balances before"
BORROWER_ME=$(call 200 GET /api/accounts/me/ "$B")
BORROWER_BEFORE=$(echo "$BORROWER_ME" | pick 'd["balance"]')
LENDER_ME=$(call 200 GET /api/accounts/me/ "$L")
LENDER_BEFORE=$(echo "$LENDER_ME" | pick 'd["balance"]')
LENDER_RESERVED_BEFORE=$(echo "$LENDER_ME" | pick 'd["reserved_balance"]')
echo "  borrower $BORROWER_BEFORE, lender $LENDER_BEFORE"

echo "== 1. Quote the schedule (no auth)"
QUOTE=$(call 200 GET "/api/loans/quote/?amount=5000.00&term_months=6&interest_rate=15.00" "")
expect "$(echo "$QUOTE" | pick 'd["monthly_payment_amount"]')" "870.17" "quoted monthly payment"
expect "$(echo "$QUOTE" | pick 'd["total_repayment"]')" "5221.00" "quoted total repayment"

echo "== 2. The borrower requests 5000.00 for 6 months at up to 15.00%"
LOAN_JSON=$(call 201 POST /api/loans/ "$B" '{"amount": "5000.00", "term_months": 6, "interest_rate": "15.00"}')
LOAN=$(echo "$LOAN_JSON" | pick 'd["id"]')
expect "$(echo "$LOAN_JSON" | pick 'd["status"]')" "OPEN" "loan $LOAN status"

echo "== 3. The lender finds it and offers 15.00%"
AVAILABLE=$(call 200 GET /api/loans/available/ "$L")
AVAILABLE=$(echo "$AVAILABLE" | pick '" ".join(str(r["id"]) for r in d["results"])')
case " $AVAILABLE " in *" $LOAN "*) echo "  ok: loan $LOAN is in the lender's available list" ;; *) fail "loan $LOAN is not available to the lender" ;; esac
OFFER_JSON=$(call 201 POST "/api/loans/$LOAN/offers/" "$L" '{"interest_rate": "15.00"}')
OFFER=$(echo "$OFFER_JSON" | pick 'd["id"]')
expect "$(echo "$OFFER_JSON" | pick 'd["reserved_amount"]')" "5003.75" "offer $OFFER holds amount + fee"

echo "== 4. The borrower accepts the offer"
ACCEPTED=$(call 200 POST "/api/loans/$LOAN/accept/" "$B" "{\"offer_id\": $OFFER}")
expect "$(echo "$ACCEPTED" | pick 'd["status"]')" "ACCEPTED" "loan status"
expect "$(echo "$ACCEPTED" | pick 'd["monthly_payment_amount"]')" "870.17" "monthly payment"

echo "== 5. The lender funds it"
FUNDED=$(call 200 POST "/api/loans/$LOAN/fund/" "$L")
expect "$(echo "$FUNDED" | pick 'd["status"]')" "FUNDED" "loan status"
expect "$(echo "$FUNDED" | pick 'len(d["payments"])')" "6" "installments"

echo "== 6. The borrower pays the six installments in order"
PAYMENTS=$(call 200 GET "/api/loans/$LOAN/payments/" "$B")
PAYMENTS=$(echo "$PAYMENTS" | pick '" ".join(str(p["id"]) for p in d)')
AMOUNTS=""
for P in $PAYMENTS; do
  PAID=$(call 200 POST "/api/loans/$LOAN/payments/$P/pay/" "$B")
  AMOUNT=$(echo "$PAID" | pick 'd["amount"]')
  STATUS=$(echo "$PAID" | pick 'd["loan_status"]')
  echo "  paid installment $(echo "$PAID" | pick 'd["number"]'): $AMOUNT ($STATUS)"
  AMOUNTS="${AMOUNTS:+$AMOUNTS }$AMOUNT"
done
expect "$AMOUNTS" "870.17 870.17 870.17 870.17 870.16 870.16" "installments paid"
expect "${STATUS-}" "COMPLETED" "loan status after the last installment"

echo "== 7. Balances and the loan afterwards"
BORROWER_ME=$(call 200 GET /api/accounts/me/ "$B")
BORROWER_AFTER=$(echo "$BORROWER_ME" | pick 'd["balance"]')
LENDER_ME=$(call 200 GET /api/accounts/me/ "$L")
LENDER_AFTER=$(echo "$LENDER_ME" | pick 'd["balance"]')
echo "  borrower $BORROWER_AFTER, lender $LENDER_AFTER"
# The borrower received 5000.00 and repaid 5221.00; the lender paid 5003.75 and received 5221.00.
expect "$(money_delta "$BORROWER_BEFORE" "$BORROWER_AFTER")" "-221.00" "borrower balance change"
expect "$(money_delta "$LENDER_BEFORE" "$LENDER_AFTER")" "217.25" "lender balance change"
expect "$(echo "$LENDER_ME" | pick 'd["reserved_balance"]')" "$LENDER_RESERVED_BEFORE" "lender reserved balance"
LOAN_JSON=$(call 200 GET "/api/loans/$LOAN/" "$B")
expect "$(echo "$LOAN_JSON" | pick 'd["status"]')" "COMPLETED" "loan $LOAN status"

echo "== 8. Part 2: two lenders fund one loan (notes)"
BORROWER_BEFORE=$(call 200 GET /api/accounts/me/ "$B" | pick 'd["balance"]')
LENDER_BEFORE=$(call 200 GET /api/accounts/me/ "$L" | pick 'd["balance"]')
LENDER2_BEFORE=$(call 200 GET /api/accounts/me/ "$L2" | pick 'd["balance"]')
LOAN_JSON=$(call 201 POST /api/loans/ "$B" '{"amount": "1000.00", "term_months": 4, "interest_rate": "12.00"}')
LOAN2=$(echo "$LOAN_JSON" | pick 'd["id"]')
OFFER_JSON=$(call 201 POST "/api/loans/$LOAN2/offers/" "$L" '{"interest_rate": "10.00", "amount": "600.00"}')
OFFER_A=$(echo "$OFFER_JSON" | pick 'd["id"]')
expect "$(echo "$OFFER_JSON" | pick 'd["reserved_amount"]')" "602.25" "a 600.00 part holds 600.00 + its fee share 2.25"
OFFER_JSON=$(call 201 POST "/api/loans/$LOAN2/offers/" "$L2" '{"interest_rate": "11.00"}')
OFFER_B=$(echo "$OFFER_JSON" | pick 'd["id"]')
expect "$(echo "$OFFER_JSON" | pick 'd["reserved_amount"]')" "1003.75" "a whole-loan offer holds amount + fee"
ACCEPTED=$(call 200 POST "/api/loans/$LOAN2/accept/" "$B" "{\"offer_ids\": [$OFFER_A, $OFFER_B]}")
expect "$(echo "$ACCEPTED" | pick 'd["lender"], len(d["lenders"]), d["interest_rate"], d["monthly_payment_amount"]')" "None 2 10.40 255.44" "two lenders at the weighted rate"
OFFERS=$(call 200 GET "/api/loans/$LOAN2/offers/" "$B")
expect "$(echo "$OFFERS" | pick '[(o["filled_amount"], o["fee"], o["reserved_amount"]) for o in d["results"]]')" "[('600.00', '2.25', '602.25'), ('400.00', '1.50', '401.50')]" "fills, fee shares and holds cut"
FIRST=$(call 200 POST "/api/loans/$LOAN2/fund/" "$L")
expect "$(echo "$FIRST" | pick 'd["status"]')" "ACCEPTED" "the first lender's confirmation"
FUNDED=$(call 200 POST "/api/loans/$LOAN2/fund/" "$L2")
expect "$(echo "$FUNDED" | pick 'd["status"], [p["amount"] for p in d["payments"]]')" "FUNDED ['255.44', '255.44', '255.44', '255.45']" "the last confirmation funds it"
NOTES=$(call 200 GET "/api/loans/$LOAN2/notes/" "$B")
expect "$(echo "$NOTES" | pick '[(n["amount"], n["interest_rate"], n["fee"]) for n in d["results"]]')" "[('600.00', '10.00', '2.25'), ('400.00', '11.00', '1.50')]" "two notes"
PAYMENTS=$(call 200 GET "/api/loans/$LOAN2/payments/" "$B")
for P in $(echo "$PAYMENTS" | pick '" ".join(str(p["id"]) for p in d)'); do
  STATUS=$(call 200 POST "/api/loans/$LOAN2/payments/$P/pay/" "$B" | pick 'd["loan_status"]')
done
expect "$STATUS" "COMPLETED" "loan $LOAN2 status after the last installment"
NOTE=$(echo "$NOTES" | pick 'd["results"][1]["id"]')
expect "$(call 200 GET "/api/notes/$NOTE/" "$L2" | pick '[p["amount"] for p in d["payments"]], d["principal_repaid"], d["interest_received"], d["status"]')" "['102.30', '102.30', '102.30', '102.31'] 400.00 9.21 REPAID" "the second lender's note"
# The borrower received 1000.00 and repaid 1021.77; the lenders paid 602.25 and 401.50 and got back
# 612.56 (153.14 x 4) and 409.21 (102.30 x 3 + 102.31).
BORROWER_AFTER=$(call 200 GET /api/accounts/me/ "$B" | pick 'd["balance"]')
LENDER_AFTER=$(call 200 GET /api/accounts/me/ "$L" | pick 'd["balance"]')
LENDER2_AFTER=$(call 200 GET /api/accounts/me/ "$L2" | pick 'd["balance"]')
expect "$(money_delta "$BORROWER_BEFORE" "$BORROWER_AFTER")" "-21.77" "borrower balance change"
expect "$(money_delta "$LENDER_BEFORE" "$LENDER_AFTER")" "10.31" "lender balance change"
expect "$(money_delta "$LENDER2_BEFORE" "$LENDER2_AFTER")" "7.71" "lender2 balance change"

echo "== 14. Part 3: prepay, then pay off early (v2)"
BORROWER_BEFORE=$BORROWER_AFTER LENDER_BEFORE=$LENDER_AFTER LENDER2_BEFORE=$LENDER2_AFTER
LOAN3=$(call 201 POST /api/loans/ "$B" '{"amount": "900.00", "term_months": 3, "interest_rate": "12.00"}' | pick 'd["id"]')
OFFER_C=$(call 201 POST "/api/loans/$LOAN3/offers/" "$L" '{"interest_rate": "9.00", "amount": "600.00"}' | pick 'd["id"]')
OFFER_D=$(call 201 POST "/api/loans/$LOAN3/offers/" "$L2" '{"interest_rate": "12.00"}' | pick 'd["id"]')
expect "$(call 200 POST "/api/loans/$LOAN3/accept/" "$B" "{\"offer_ids\": [$OFFER_C, $OFFER_D]}" | pick 'd["status"], len(d["lenders"])')" "ACCEPTED 2" "two lenders accepted"
expect "$(call 200 POST "/api/loans/$LOAN3/fund/" "$L" | pick 'd["status"]')" "ACCEPTED" "the first lender's confirmation"
expect "$(call 200 POST "/api/loans/$LOAN3/fund/" "$L2" | pick 'd["status"], [p["amount"] for p in d["payments"]]')" "FUNDED ['305.02', '305.01', '305.01']" "funded in two notes"
expect "$(call 200 GET "/api/loans/$LOAN3/payoff/" "$B" | pick 'd["due_installments"], d["principal_outstanding"], d["accrued_interest"], d["total"]')" "[] 900.00 0.00 900.00" "the payoff quote on the day of funding"
LATER=$(python3 -c "import datetime; print(datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=10))")
LATER_QUOTE=$(call 200 GET "/api/loans/$LOAN3/payoff/?as_of=$LATER" "$L")
expect "$(echo "$LATER_QUOTE" | pick 'd["as_of"], d["principal_outstanding"]')" "$LATER 900.00" "a quote ten days on"
expect "$(money_delta "$(echo "$LATER_QUOTE" | pick 'd["accrued_interest"]')" "$(echo "$LATER_QUOTE" | pick 'd["total"]')")" "900.00" "ten days on: total = principal + accrued"
expect "$(call 200 POST "/api/loans/$LOAN3/prepay/" "$B" '{"amount": "300.00"}' | pick 'd["principal_outstanding"], [(p["amount"], p["interest"]) for p in d["payments"]]')" "600.00 [('205.84', '7.50'), ('203.35', '3.35'), ('203.34', '1.68')]" "re-levelled after a 300.00 prepayment"
P1=$(call 200 GET "/api/loans/$LOAN3/payments/" "$B" | pick 'd[0]["id"]')
expect "$(call 200 POST "/api/loans/$LOAN3/payments/$P1/pay/" "$B" | pick 'd["number"], d["amount"], d["status"]')" "1 205.84 paid" "installment 1 paid"
TOTAL=$(call 200 GET "/api/loans/$LOAN3/payoff/" "$B" | pick 'd["total"]')
expect "$TOTAL" "401.66" "the payoff quote after installment 1"
expect "$(call 200 POST "/api/loans/$LOAN3/payoff/" "$B" "{\"total\": \"$TOTAL\"}" | pick 'd["status"], d["closed_reason"], [p["status"] for p in d["payments"]]')" "COMPLETED prepaid ['paid', 'settled', 'settled']" "paid off early"
# The borrower paid 7.50 of interest; the lenders earned 4.50 and 3.00 less their fee shares 2.50 and 1.25.
expect "$(money_delta "$BORROWER_BEFORE" "$(call 200 GET /api/accounts/me/ "$B" | pick 'd["balance"]')")" "-7.50" "borrower balance change"
expect "$(money_delta "$LENDER_BEFORE" "$(call 200 GET /api/accounts/me/ "$L" | pick 'd["balance"]')")" "2.00" "lender balance change"
expect "$(money_delta "$LENDER2_BEFORE" "$(call 200 GET /api/accounts/me/ "$L2" | pick 'd["balance"]')")" "1.75" "lender2 balance change"

echo "walkthrough: OK"
