"""The numbered choices of the last reply per room and person, in memory only."""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_CAPACITY = 10_000


class Choices:
    """A bounded LRU: (room, user) → the actions that the numbers 1..n stand for."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], tuple[str, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, room_id: str, user_id: str, actions: list[str]) -> None:
        """Store the actions of the latest reply (none: forget the earlier ones)."""
        key = (room_id, user_id)
        self._entries.pop(key, None)
        if not actions:
            return
        self._entries[key] = tuple(actions)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def pick(self, room_id: str, user_id: str, number: int) -> str | None:
        """Return the action a number stands for, or None when there is no such choice."""
        actions = self._entries.get((room_id, user_id))
        if actions is None or not 1 <= number <= len(actions):
            return None
        self._entries.move_to_end((room_id, user_id))
        return actions[number - 1]

    def forget_user(self, user_id: str) -> None:
        """Drop every choice remembered for a person."""
        for key in [key for key in self._entries if key[1] == user_id]:
            del self._entries[key]

    def forget_room(self, room_id: str) -> None:
        """Drop every choice remembered in a room."""
        for key in [key for key in self._entries if key[0] == room_id]:
            del self._entries[key]
