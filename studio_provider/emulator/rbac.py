"""Access groups, their members and access rules (stored per team; no enforcement in the emulator)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import iso
from .errors import bad_request, not_found

ROLES = ("read", "write", "admin")
PERMISSIONS = ("read", "write", "admin")


@dataclass
class Member:
    user_id: int
    role: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "username": f"user{self.user_id}",
            "email": f"user{self.user_id}@example.com",
            "role": self.role,
        }


@dataclass
class Group:
    id: str
    team: str
    name: str
    description: str
    created_at: datetime
    members: dict[int, Member] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "member_count": len(self.members),
            "created_at": iso(self.created_at),
        }


@dataclass
class Rule:
    id: str
    team: str
    resource_type: str
    resource_id: str | int | None
    permission: str
    user_id: int | None
    group_id: str | None

    def to_dict(self, group_name: str | None) -> dict[str, Any]:
        resource_id = self.resource_id
        return {
            "id": self.id,
            "resource_type": self.resource_type,
            "resource_uuid": resource_id if isinstance(resource_id, str) else None,
            "resource_id": resource_id if isinstance(resource_id, int) else None,
            "resource_name": str(resource_id) if resource_id is not None else None,
            "permission": self.permission,
            "user_id": self.user_id,
            "user_email": f"user{self.user_id}@example.com" if self.user_id is not None else None,
            "group_id": self.group_id,
            "group_name": group_name,
        }


def _text(body: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise bad_request(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string")
    return value


def _choice(value: str | None, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        raise bad_request(f"{key} must be one of {', '.join(allowed)}")
    return value


def _user_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            return int(str(value))
        except ValueError:
            raise bad_request("user_id must be an integer") from None
    return value


class RbacStore:
    """CRUD over groups, members and rules, each scoped to a team."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.rules: dict[str, Rule] = {}

    def group(self, team: str, group_id: str) -> Group:
        found = self.groups.get(group_id)
        if found is None or found.team != team:
            raise not_found(f"Access group {group_id} not found")
        return found

    def list_groups(self, team: str) -> list[dict[str, Any]]:
        return [group.to_dict() for group in self.groups.values() if group.team == team]

    def create_group(self, team: str, body: dict[str, Any], now: datetime) -> dict[str, Any]:
        name = _text(body, "name", required=True) or ""
        if not name.strip():
            raise bad_request("name must not be empty")
        if any(group.team == team and group.name == name for group in self.groups.values()):
            raise bad_request(f"Access group {name!r} already exists")
        group = Group(str(uuid.uuid4()), team, name, _text(body, "description") or "", now)
        self.groups[group.id] = group
        return group.to_dict()

    def update_group(self, team: str, group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        group = self.group(team, group_id)
        name = _text(body, "name")
        if name is not None:
            if any(
                other.team == team and other.name == name and other.id != group.id
                for other in self.groups.values()
            ):
                raise bad_request(f"Access group {name!r} already exists")
            group.name = name
        description = _text(body, "description")
        if description is not None:
            group.description = description
        return group.to_dict()

    def delete_group(self, team: str, group_id: str) -> None:
        group = self.group(team, group_id)
        del self.groups[group.id]
        for rule_id in [rule.id for rule in self.rules.values() if rule.group_id == group.id]:
            del self.rules[rule_id]

    def list_members(self, team: str, group_id: str) -> list[dict[str, Any]]:
        return [member.to_dict() for member in self.group(team, group_id).members.values()]

    def add_member(self, team: str, group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        group = self.group(team, group_id)
        if body.get("user_id") is None:
            raise bad_request("user_id is required")
        user_id = _user_id(body["user_id"])
        role = _choice(_text(body, "role") or "read", ROLES, "role")
        if user_id in group.members:
            raise bad_request(f"User {user_id} is already a member")
        group.members[user_id] = Member(user_id, role)
        return group.members[user_id].to_dict()

    def update_member(self, team: str, group_id: str, user_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        group = self.group(team, group_id)
        member = group.members.get(_user_id(user_id))
        if member is None:
            raise not_found(f"User {user_id} is not a member of this group")
        member.role = _choice(_text(body, "role", required=True), ROLES, "role")
        return member.to_dict()

    def remove_member(self, team: str, group_id: str, user_id: Any) -> None:
        group = self.group(team, group_id)
        if group.members.pop(_user_id(user_id), None) is None:
            raise not_found(f"User {user_id} is not a member of this group")

    def _rule(self, team: str, rule_id: str) -> Rule:
        found = self.rules.get(rule_id)
        if found is None or found.team != team:
            raise not_found(f"Access rule {rule_id} not found")
        return found

    def _rule_dict(self, rule: Rule) -> dict[str, Any]:
        group = self.groups.get(rule.group_id) if rule.group_id else None
        return rule.to_dict(group.name if group else None)

    def list_rules(self, team: str) -> list[dict[str, Any]]:
        return [self._rule_dict(rule) for rule in self.rules.values() if rule.team == team]

    def create_rule(self, team: str, body: dict[str, Any]) -> dict[str, Any]:
        resource_type = _text(body, "resource_type", required=True) or ""
        permission = _choice(_text(body, "permission", required=True), PERMISSIONS, "permission")
        user_id = _user_id(body["user_id"]) if body.get("user_id") is not None else None
        group_id = _text(body, "group_id")
        if (user_id is None) == (group_id is None):
            raise bad_request("exactly one of user_id and group_id is required")
        if group_id is not None:
            self.group(team, group_id)
        resource_id = body.get("resource_id")
        if resource_id is not None and not isinstance(resource_id, (str, int)):
            raise bad_request("resource_id must be a string or an integer")
        rule = Rule(str(uuid.uuid4()), team, resource_type, resource_id, permission, user_id, group_id)
        self.rules[rule.id] = rule
        return self._rule_dict(rule)

    def update_rule(self, team: str, rule_id: str, body: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(team, rule_id)
        rule.permission = _choice(_text(body, "permission", required=True), PERMISSIONS, "permission")
        return self._rule_dict(rule)

    def delete_rule(self, team: str, rule_id: str) -> None:
        del self.rules[self._rule(team, rule_id).id]
