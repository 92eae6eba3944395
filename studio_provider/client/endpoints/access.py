"""Access control (RBAC): access groups, their members, and access rules.

Their bodies have no ``team_name`` field, so here it always travels in the query string.
"""

from __future__ import annotations

from typing import Any

from .. import validation as check
from ..request import ApiRequest, QueryParams, Retry
from .common import JSONDict, compact, decode_dict, decode_dicts, decode_nothing, query_params

_GROUPS = "datachain/rbac/access-groups/"
_RULES = "datachain/rbac/access-rules/"


def _rbac(
    name: str,
    method: str,
    path: str,
    team: str,
    decode: Any = decode_dict,
    body: JSONDict | None = None,
    retry: Retry = Retry.IDEMPOTENT,
) -> ApiRequest[Any]:
    params: QueryParams = query_params(team)
    return ApiRequest(name, method, path, decode, params=params, json=body, retry=retry)


def _member_path(group_id: str, user_id: int) -> str:
    group, user = check.path_segment("group_id", group_id), check.path_segment("user_id", user_id)
    return f"{_GROUPS}{group}/members/{user}/"


def list_access_groups(team: str) -> ApiRequest[list[JSONDict]]:
    """List access groups."""
    return _rbac("list_access_groups", "GET", _GROUPS, team, decode_dicts)


def create_access_group(team: str, *, name: str, description: str = "") -> ApiRequest[JSONDict]:
    """Create an access group. Never retried blindly.

    :param name: the group's name.
    :param description: what the group is for.
    """
    body = {"name": check.required_text("name", name), "description": description}
    return _rbac("create_access_group", "POST", _GROUPS, team, body=body, retry=Retry.UNSAFE)


def update_access_group(
    team: str, *, group_id: str, name: str | None = None, description: str | None = None
) -> ApiRequest[JSONDict]:
    """Rename an access group or change its description.

    :param group_id: the group's id.
    :param name: a new name.
    :param description: a new description.
    """
    path = f"{_GROUPS}{check.path_segment('group_id', group_id)}/"
    body = compact({"name": name, "description": description})
    return _rbac("update_access_group", "PATCH", path, team, body=body)


def delete_access_group(team: str, *, group_id: str) -> ApiRequest[None]:
    """Delete an access group.

    :param group_id: the group's id.
    """
    path = f"{_GROUPS}{check.path_segment('group_id', group_id)}/"
    return _rbac("delete_access_group", "DELETE", path, team, decode_nothing)


def list_access_group_members(team: str, *, group_id: str) -> ApiRequest[list[JSONDict]]:
    """List an access group's members.

    :param group_id: the group's id.
    """
    path = f"{_GROUPS}{check.path_segment('group_id', group_id)}/members/"
    return _rbac("list_access_group_members", "GET", path, team, decode_dicts)


def add_access_group_member(team: str, *, group_id: str, user_id: int, role: str) -> ApiRequest[JSONDict]:
    """Add a user to an access group. Never retried blindly.

    :param group_id: the group's id.
    :param user_id: the user's id.
    :param role: the member's role, such as ``"write"``.
    """
    path = f"{_GROUPS}{check.path_segment('group_id', group_id)}/members/"
    body = {"user_id": check.int_in_range("user_id", user_id, 0), "role": check.required_text("role", role)}
    return _rbac("add_access_group_member", "POST", path, team, body=body, retry=Retry.UNSAFE)


def update_access_group_member(team: str, *, group_id: str, user_id: int, role: str) -> ApiRequest[JSONDict]:
    """Change a member's role.

    :param group_id: the group's id.
    :param user_id: the user's id.
    :param role: the new role.
    """
    path = _member_path(group_id, user_id)
    body = {"role": check.required_text("role", role)}
    return _rbac("update_access_group_member", "PATCH", path, team, body=body)


def remove_access_group_member(team: str, *, group_id: str, user_id: int) -> ApiRequest[None]:
    """Remove a user from an access group.

    :param group_id: the group's id.
    :param user_id: the user's id.
    """
    path = _member_path(group_id, user_id)
    return _rbac("remove_access_group_member", "DELETE", path, team, decode_nothing)


def list_access_rules(team: str) -> ApiRequest[list[JSONDict]]:
    """List access rules."""
    return _rbac("list_access_rules", "GET", _RULES, team, decode_dicts)


def create_access_rule(
    team: str,
    *,
    resource_type: str,
    resource_id: str,
    permission: str,
    user_id: int | None = None,
    group_id: str | None = None,
) -> ApiRequest[JSONDict]:
    """Grant a user or a group a permission on a resource. Never retried blindly.

    :param resource_type: the kind of resource, such as ``"namespace"``.
    :param resource_id: the resource's id.
    :param permission: such as ``"read"`` or ``"write"``.
    :param user_id: the user to grant it to (or give ``group_id``).
    :param group_id: the group to grant it to (or give ``user_id``).
    """
    check.one_of(("user_id", "group_id"), (user_id, group_id))
    body = compact(
        {
            "resource_type": check.required_text("resource_type", resource_type),
            "resource_id": check.required_text("resource_id", resource_id),
            "permission": check.required_text("permission", permission),
            "user_id": user_id,
            "group_id": group_id,
        }
    )
    return _rbac("create_access_rule", "POST", _RULES, team, body=body, retry=Retry.UNSAFE)


def update_access_rule(team: str, *, rule_id: str, permission: str) -> ApiRequest[JSONDict]:
    """Change an access rule's permission.

    :param rule_id: the rule's id.
    :param permission: the new permission.
    """
    path = f"{_RULES}{check.path_segment('rule_id', rule_id)}/"
    body = {"permission": check.required_text("permission", permission)}
    return _rbac("update_access_rule", "PATCH", path, team, body=body)


def delete_access_rule(team: str, *, rule_id: str) -> ApiRequest[None]:
    """Delete an access rule.

    :param rule_id: the rule's id.
    """
    path = f"{_RULES}{check.path_segment('rule_id', rule_id)}/"
    return _rbac("delete_access_rule", "DELETE", path, team, decode_nothing)
