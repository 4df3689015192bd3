"""What a public name needs: a docstring (the API reference is made from them)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from agentsession.store import STORE_METHODS


def _doc(value: Any) -> str:
    if isinstance(value, property):
        return value.__doc__ or (value.fget.__doc__ if value.fget else None) or ""
    return getattr(getattr(value, "__func__", value), "__doc__", None) or ""


def undocumented(module_name: str) -> list[str]:
    """Names in ``module_name.__all__`` (classes and functions) and the public
    methods and properties of its classes that have no docstring. A store's
    protocol methods are documented by the protocol."""
    module = importlib.import_module(module_name)
    missing = []
    for name in module.__all__:
        value = getattr(module, name)
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        if not (inspect.getdoc(value) or "").strip():
            missing.append(f"{module_name}.{name}")
        if not inspect.isclass(value):
            continue
        store = all(callable(getattr(value, m, None)) for m in STORE_METHODS)
        for attribute, member in vars(value).items():
            if attribute.startswith("_") or (store and attribute in STORE_METHODS):
                continue
            routine = inspect.isfunction(member) or isinstance(
                member, property | classmethod | staticmethod
            )
            # A method documented by the class it overrides (a framework's
            # interface) counts: inspect.getdoc follows the MRO.
            inherited = inspect.getdoc(getattr(value, attribute, None)) or ""
            if routine and not (_doc(member).strip() or inherited.strip()):
                missing.append(f"{module_name}.{name}.{attribute}")
    return missing
