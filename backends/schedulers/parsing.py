"""What every scheduler's parsers share."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import ParseError

F = TypeVar("F", bound=Callable[..., Any])


def parser(what: str) -> Callable[[F], F]:
    """Turn any unexpected exception of a parser into a ParseError naming ``what``.

    Parsers raise ParseError themselves for what they foresee; this keeps the
    contract ("parsers raise only ParseError") for outputs nobody foresaw.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except ParseError:
                raise
            except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
                text = args[0] if args and isinstance(args[0], str) else None
                raise ParseError(what, f"unexpected content ({exc.__class__.__name__}: {exc})", text) from None

        return wrapper  # type: ignore[return-value]

    return decorate
