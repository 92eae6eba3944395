"""Access groups, their members and access rules (stored per team; no enforcement in the emulator).

The store takes values already checked against their route's spec (``api_spec``); it keeps the rules
the spec cannot say: unique group names, exactly one of ``user_id``/``group_id``, existing members.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import iso
from .errors import bad_request, not_found


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

    def create_group(self, team: str, name: str, description: str | None, now: datetime) -> dict[str, Any]:
        if any(group.team == team and group.name == name for group in self.groups.values()):
            raise bad_request(f"Access group {name!r} already exists")
        group = Group(str(uuid.uuid4()), team, name, description or "", now)
        self.groups[group.id] = group
        return group.to_dict()

    def update_group(
        self, team: str, group_id: str, name: str | None, description: str | None
    ) -> dict[str, Any]:
        group = self.group(team, group_id)
        if name is not None:
            if any(
                other.team == team and other.name == name and other.id != group.id
                for other in self.groups.values()
            ):
                raise bad_request(f"Access group {name!r} already exists")
            group.name = name
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

    def add_member(self, team: str, group_id: str, user_id: int, role: str) -> dict[str, Any]:
        group = self.group(team, group_id)
        if user_id in group.members:
            raise bad_request(f"User {user_id} is already a member")
        group.members[user_id] = Member(user_id, role)
        return group.members[user_id].to_dict()

    def update_member(self, team: str, group_id: str, user_id: int, role: str) -> dict[str, Any]:
        group = self.group(team, group_id)
        member = group.members.get(user_id)
        if member is None:
            raise not_found(f"User {user_id} is not a member of this group")
        member.role = role
        return member.to_dict()

    def remove_member(self, team: str, group_id: str, user_id: int) -> None:
        group = self.group(team, group_id)
        if group.members.pop(user_id, None) is None:
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

    def create_rule(self, team: str, values: Mapping[str, Any]) -> dict[str, Any]:
        user_id, group_id = values.get("user_id"), values.get("group_id")
        if user_id is not None and group_id is not None:
            raise bad_request("give one of user_id and group_id, not both")
        if group_id is not None:
            self.group(team, group_id)
        rule = Rule(
            str(uuid.uuid4()),
            team,
            values["resource_type"],
            values["resource_id"],
            values["permission"],
            user_id,
            group_id,
        )
        self.rules[rule.id] = rule
        return self._rule_dict(rule)

    def update_rule(self, team: str, rule_id: str, permission: str) -> dict[str, Any]:
        rule = self._rule(team, rule_id)
        rule.permission = permission
        return self._rule_dict(rule)

    def delete_rule(self, team: str, rule_id: str) -> None:
        del self.rules[self._rule(team, rule_id).id]
