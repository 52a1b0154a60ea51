"""Serializers built once per class instead of once per request.

A DRF serializer deep-copies its declared fields every time one is instantiated; for the read-only
representation of one object that copy is most of its cost. `represent` keeps one bound instance per
serializer class and calls its `to_representation`, which reads the instance and keeps no state, so
the output is the same as `SerializerClass(instance).data`. Only for serializers whose fields need no
context (no request, no hyperlinks).
"""

import threading

from rest_framework import serializers

_bound: dict[type, serializers.Serializer] = {}
_lock = threading.Lock()


def represent(serializer_class: type[serializers.Serializer], instance) -> dict:
    """What `serializer_class(instance).data` is, without building a serializer."""
    return _instance(serializer_class).to_representation(instance)


def _instance(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    serializer = _bound.get(serializer_class)
    if serializer is None:
        with _lock:
            serializer = _bound.get(serializer_class)
            if serializer is None:
                serializer = serializer_class()
                serializer.fields  # noqa: B018 - bind the fields now, under the lock
                _bound[serializer_class] = serializer
    return serializer


def valid_data(serializer_class: type[serializers.Serializer], data: dict) -> dict | None:
    """The validated data of a valid body, from the class's one bound instance; None when the body is
    not valid (the caller then validates it the usual way, for the errors). Only for input serializers
    that declare `reusable = True`: no context, no validator that reads the instance or the request."""
    if not getattr(serializer_class, "reusable", False):
        return None
    try:
        return dict(_instance(serializer_class).run_validation(data))
    except serializers.ValidationError:
        return None
