"""Strict serializer fields: every input has exactly its JSON type, money has at most two decimals."""

import functools
import inspect
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from rest_framework import serializers

from lenme.api.parsers import ExponentNumber
from lenme.money import CENT, MONEY

# ASCII digits only (\d would admit "５") and fullmatch (re's $ would admit a trailing newline).
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def parse_decimal(value: object) -> Decimal | None:
    """A Decimal from a JSON string in plain notation or a JSON number; None when it is neither."""
    if isinstance(value, (bool, ExponentNumber)):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and _PLAIN_DECIMAL.fullmatch(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
            return None
    return None


class DecimalAmountField(serializers.Field):
    """A decimal with at most two places as written, within [min_value, max_value]; output "0.00"."""

    default_error_messages = {
        "invalid": "Must be a decimal number (a JSON string or number) in plain notation.",
        "max_places": "Must have at most two decimal places.",
        "min_value": "Must be at least {min_value}.",
        "max_value": "Must be at most {max_value}.",
        "positive": "Must be greater than zero.",
    }

    def __init__(
        self, *, min_value: Decimal | None = None, max_value: Decimal | None = None, positive: bool = True, **kwargs
    ):
        self.min_value = min_value
        self.max_value = max_value
        self.positive = positive
        super().__init__(**kwargs)

    def to_internal_value(self, data: object) -> Decimal:
        value = parse_decimal(data)
        if value is None:
            self.fail("invalid")
        if value.as_tuple().exponent < -2:
            self.fail("max_places")
        if self.positive and value <= 0:
            self.fail("positive")
        if self.min_value is not None and value < self.min_value:
            self.fail("min_value", min_value=f"{self.min_value:.2f}")
        if self.max_value is not None and value > self.max_value:
            self.fail("max_value", max_value=f"{self.max_value:.2f}")
        return abs(value).quantize(CENT) if value == 0 else value.quantize(CENT)  # no "-0.00"

    def get_attribute(self, instance):
        # A source naming a method (Profile.available_balance, Loan.total_loan_amount) is called as
        # DRF would call it, but without DRF's inspect.signature of the bound method on every read:
        # the method is looked up and checked once per class.
        attrs = self.source_attrs
        if len(attrs) == 1 and attrs[0] not in getattr(instance, "__dict__", ()):
            method = _simple_method(type(instance), attrs[0])
            if method is not None:
                try:
                    return method(instance)
                except (AttributeError, KeyError) as exc:  # as DRF: not to be mistaken for a missing attribute
                    raise ValueError(
                        f'Exception raised in callable attribute "{attrs[0]}"; original exception was: {exc}'
                    ) from exc
        return super().get_attribute(instance)

    def to_representation(self, value: Decimal) -> str:
        return f"{Decimal(value).quantize(CENT):f}"


@functools.cache
def _simple_method(cls: type, name: str):
    """The plain method `name` of cls when DRF's get_attribute would call it (every argument after
    self optional), else None: DRF's own lookup then decides (fields, properties, mappings...)."""
    if issubclass(cls, Mapping):
        return None
    try:
        method = inspect.getattr_static(cls, name)
    except AttributeError:
        return None
    if not inspect.isfunction(method):
        return None
    params = list(inspect.signature(method).parameters.values())
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        return None
    if all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not p.empty for p in params[1:]):
        return method
    return None


class MoneyField(DecimalAmountField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_value", Decimal("10") ** (MONEY["max_digits"] - MONEY["decimal_places"]) - CENT)
        super().__init__(**kwargs)


class RateField(DecimalAmountField):
    """An annual percentage rate, 0.00 to 100.00."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", Decimal("0"))
        kwargs.setdefault("max_value", Decimal("100"))
        kwargs.setdefault("positive", False)
        super().__init__(**kwargs)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be a JSON integer."}

    def to_internal_value(self, data: object) -> int:
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter: plain ASCII digits only ("6.0", " 6", "６" and "1e1" are 400)."""

    default_error_messages = {"invalid": "Must be an integer written in plain digits."}
    _DIGITS = re.compile(r"-?[0-9]{1,18}")

    def to_internal_value(self, data: object) -> int:
        if type(data) is int:
            return super().to_internal_value(data)
        if not isinstance(data, str) or not self._DIGITS.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(int(data))


class QueryDateField(serializers.DateField):
    """A calendar date written exactly YYYY-MM-DD (no time, no week dates, no "2026-1-5")."""

    default_error_messages = {"invalid": "Must be a date written YYYY-MM-DD."}
    _DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

    def to_internal_value(self, data: object):
        if not isinstance(data, str) or not self._DATE.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be a JSON boolean."}

    def to_internal_value(self, data: object) -> bool:
        if type(data) is not bool:
            self.fail("invalid")
        return data


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a JSON string."}

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


try:  # annotate the strict scalar fields for the OpenAPI schema (money: lenme.api.schema)
    from drf_spectacular.utils import extend_schema_field

    extend_schema_field({"type": "integer"})(StrictIntegerField)
    extend_schema_field({"type": "integer"})(QueryIntegerField)
    extend_schema_field({"type": "boolean"})(StrictBooleanField)
except ImportError:  # pragma: no cover
    pass
