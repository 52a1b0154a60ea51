"""Money fields read a method source (Profile.available_balance) the way DRF's generic lookup does,
looked up once per class instead of inspected on every read."""

import pytest
from rest_framework import serializers

from lenme.api.fields import MoneyField


class Holder:
    def __init__(self, amount):
        self.amount = amount

    def doubled(self, factor=2):
        return self.amount * factor

    def needs_argument(self, factor):  # DRF does not call a method that needs an argument
        return self.amount * factor

    def broken(self):
        raise AttributeError("inner")

    @property
    def as_property(self):
        return self.amount

    @staticmethod
    def static():
        return 3


class HolderSerializer(serializers.Serializer):
    amount = MoneyField()
    doubled = MoneyField()
    as_property = MoneyField()
    static = MoneyField()


def test_a_method_source_is_called_and_other_sources_read_as_before():
    assert HolderSerializer(Holder(5)).data == {
        "amount": "5.00",
        "doubled": "10.00",
        "as_property": "5.00",
        "static": "3.00",
    }


def test_a_mapping_and_an_instance_attribute_are_read_as_values():
    assert HolderSerializer({"amount": 1, "doubled": 2, "as_property": 3, "static": 4}).data["doubled"] == "2.00"
    holder = Holder(5)
    holder.doubled = 7
    assert HolderSerializer(holder).data["doubled"] == "7.00"


def test_a_method_that_needs_an_argument_is_not_called():
    class NeedsArgument(serializers.Serializer):
        needs_argument = MoneyField()

    with pytest.raises(TypeError):  # DRF hands the bound method itself to to_representation
        NeedsArgument(Holder(5)).data  # noqa: B018


def test_an_attribute_error_inside_the_method_is_not_taken_for_a_missing_field():
    class Broken(serializers.Serializer):
        broken = MoneyField(required=False)

    with pytest.raises(ValueError, match='callable attribute "broken"'):
        Broken(Holder(5)).data  # noqa: B018
