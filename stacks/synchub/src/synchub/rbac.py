"""Group roles and what each may do (pure; the API checks membership on every request).

``owner`` > ``admin`` > ``member``. Everyone in a group reads the group, its settings and its
member list. Admins and the owner change the group's settings and add or remove members; only the
owner grants or takes away ``admin``, changes ownership or deletes the group. Anyone but the
owner may leave. A removed member's next request finds no membership and is refused.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["owner", "admin", "member"]
ROLES: tuple[Role, ...] = ("owner", "admin", "member")
_RANK = {"member": 1, "admin": 2, "owner": 3}

Action = Literal[
    "read", "write_settings", "add_member", "remove_member", "change_role", "delete_group"
]


def is_role(value: object) -> bool:
    return isinstance(value, str) and value in _RANK


def can(role: str | None, action: Action) -> bool:
    """Whether a caller with ``role`` in the group (None: not a member) may do ``action``."""
    if role not in _RANK:
        return False
    rank = _RANK[role]
    if action == "read":
        return True
    if action in ("write_settings", "add_member", "remove_member"):
        return rank >= _RANK["admin"]
    return rank >= _RANK["owner"]  # change_role, delete_group


def may_set_role(actor: str | None, current: str | None, wanted: str) -> bool:
    """May ``actor`` make a member whose role is ``current`` (None: not yet a member) ``wanted``?

    Admins add and keep ``member``s only; the owner sets any role but ``owner`` (ownership is not
    transferred through membership changes)."""
    if not is_role(wanted) or wanted == "owner" or current == "owner":
        return False
    if actor == "owner":
        return True
    if actor == "admin":
        return wanted == "member" and current in (None, "member")
    return False


def may_remove(actor: str | None, actor_id: str, target: str | None, target_id: str) -> bool:
    """May ``actor`` remove the member ``target_id`` (role ``target``) from the group?"""
    if target is None or target == "owner":
        return False  # the owner cannot be removed (delete the group instead)
    if actor_id == target_id:
        return actor in ("admin", "member")  # leaving
    if actor == "owner":
        return True
    return actor == "admin" and target == "member"
