"""What every llmotel instrumentor shares: patch tables as data, apply and restore.

A library instrumentor declares its :class:`Patch` rows and how to build a wrapper
for each adapter key; this base class turns the table into wrapt wrappers on
``instrument()`` and restores the originals on ``uninstrument()``. Targets missing
from the installed library version are skipped.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from llmotel.config import Settings


class Patch(NamedTuple):
    """One method to wrap: module, ``Class.method``, adapter key and call style."""

    module: str
    target: str
    adapter: str
    is_async: bool


def _resolve(patch: Patch) -> tuple[Any, str, Any] | None:
    """(owner, attribute name, current value) or None when the target is absent."""
    try:
        module = importlib.import_module(patch.module)
    except ImportError:
        return None
    owner_name, _, method = patch.target.rpartition(".")
    owner = getattr(module, owner_name, None) if owner_name else module
    if owner is None:
        return None
    namespace = vars(owner)
    if method not in namespace:
        return None
    return owner, method, namespace[method]


class LlmotelInstrumentor(BaseInstrumentor):
    """Base of llmotel's instrumentors (each a singleton, as BaseInstrumentor is)."""

    scope: str = "llmotel"
    patches: tuple[Patch, ...] = ()

    def __init__(self) -> None:
        if not hasattr(self, "_patched"):
            self._patched: list[tuple[Any, str, Any]] = []
            self._telemetry: Any = None

    def build_wrappers(self, tel: Any) -> Callable[[Patch], Callable[..., Any] | None]:
        """Return a function giving the wrapper for a patch row (None skips the row)."""
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        import wrapt

        from llmotel.telemetry.handler import Telemetry

        settings = kwargs.get("settings") or _active_settings()
        tel = Telemetry(
            self.scope,
            settings,
            kwargs.get("tracer_provider"),
            kwargs.get("meter_provider"),
            kwargs.get("logger_provider"),
        )
        wrapper_for = self.build_wrappers(tel)
        self._telemetry = tel
        for patch in self.patches:
            if patch.module in sys.modules:
                self._apply(patch, tel, wrapper_for)
            else:
                # Not imported yet (openai loads its resource modules lazily): patch it
                # when the app imports it, instead of importing every API surface now.
                wrapt.register_post_import_hook(
                    functools.partial(self._on_import, patch, tel, wrapper_for), patch.module
                )

    def _on_import(self, patch: Patch, tel: Any, wrapper_for: Callable[[Patch], Any], module: Any) -> None:
        # Runs inside the app's import statement: it must never raise.
        try:
            if self._telemetry is tel:  # still instrumented by the same instrument() call
                self._apply(patch, tel, wrapper_for)
        except Exception as exc:
            tel.internal_error(f"{self.scope}.patch", exc)

    def _apply(self, patch: Patch, tel: Any, wrapper_for: Callable[[Patch], Any]) -> None:
        import wrapt

        found = _resolve(patch)
        if found is None:
            return
        owner, method, original = found
        if any(o is owner and m == method for o, m, _ in self._patched):
            return  # the same class re-exported under another module
        wrapper = wrapper_for(patch)
        if wrapper is None:
            return
        setattr(owner, method, wrapt.FunctionWrapper(original, wrapper))
        self._patched.append((owner, method, original))

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._telemetry is not None:
            # Bound wrappers cached by the SDK (with_raw_response) now pass through.
            self._telemetry.enabled = False
            self._telemetry = None
        for owner, method, original in reversed(self._patched):
            setattr(owner, method, original)
        self._patched.clear()


def _active_settings() -> Settings:
    """Settings of a running ``llmotel.init()``, else from the environment."""
    try:
        from llmotel.sdk import get_settings

        active = get_settings()
    except Exception:
        active = None
    return active or Settings.load()
