"""A small memo keyed by object identity, for hot paths.

For values of objects whose equality is too loose to key a cache by (equal datetimes in
other zones format differently) or too slow to hash (an event description on every
snapshot). Each remembered object is held, so its `id` cannot be reused by another
object while it is remembered; the memo forgets everything once it is full.
"""

from __future__ import annotations

from typing import Generic, TypeVar

V = TypeVar("V")


class IdentityMemo(Generic[V]):
    """Values remembered per object (by identity), at most `size` of them."""

    __slots__ = ("_items", "_size")

    def __init__(self, size: int) -> None:
        self._items: dict[int, tuple[object, V]] = {}
        self._size = size

    def get(self, key: object) -> V | None:
        """The value remembered for this very object, or None."""
        hit = self._items.get(id(key))
        return hit[1] if hit is not None and hit[0] is key else None

    def put(self, key: object, value: V) -> None:
        """Remember `value` for `key` (starting over when the memo is full)."""
        if len(self._items) >= self._size:
            self._items.clear()
        self._items[id(key)] = (key, value)

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()
