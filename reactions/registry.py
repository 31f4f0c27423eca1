"""Which function carries out each kind of reaction. Apps register theirs in their `reactions.py`
(imported at start by ReactionsConfig.ready), so the app that schedules a kind never imports the
app that carries it out."""

from collections.abc import Callable

Handler = Callable[..., object]

_handlers: dict[str, Handler] = {}


class UnknownKind(LookupError):
    pass


def handles(kind: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of `kind`; it gets the payload as keywords.

    A handler must be idempotent: it runs again after a crash, and may run again after it succeeded
    if the process dies before the row is marked done.
    """
    def register(handler: Handler) -> Handler:
        if _handlers.setdefault(kind, handler) is not handler:
            raise ValueError(f"reaction kind {kind!r} already has a handler: {_handlers[kind]!r}")
        return handler

    return register


def handler_of(kind: str) -> Handler:
    try:
        return _handlers[kind]
    except KeyError:
        raise UnknownKind(f"no handler is registered for reaction kind {kind!r}") from None
