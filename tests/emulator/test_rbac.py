"""RBAC access groups, members and rules: CRUD over real HTTP, per team."""

from __future__ import annotations

import pytest

from studio_provider.emulator import EmulatorServer
from tests.conftest import EMULATOR_OTHER_TEAM, EMULATOR_OTHER_TOKEN, EMULATOR_TEAM
from tests.emulator.helpers import client_for

pytestmark = pytest.mark.integration

GROUPS = "/datachain/rbac/access-groups/"
RULES = "/datachain/rbac/access-rules/"
TEAM = {"team_name": EMULATOR_TEAM}


def test_groups_members_and_rules(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        created = client.post(GROUPS, params=TEAM, json={"name": "production-team", "description": ""})
        assert created.status_code == 201
        group = created.json()
        assert set(group) == {"id", "name", "description", "member_count", "created_at"}
        assert client.post(GROUPS, params=TEAM, json={"name": "production-team"}).status_code == 400
        assert client.post(GROUPS, params=TEAM, json={}).status_code == 400

        updated = client.patch(f"{GROUPS}{group['id']}/", params=TEAM, json={"description": "prod"})
        assert updated.json()["description"] == "prod"

        member = client.post(f"{GROUPS}{group['id']}/members/", params=TEAM, json={"user_id": 7, "role": "write"})
        assert member.status_code == 201
        assert member.json() == {"user_id": 7, "username": "user7", "email": "user7@example.com", "role": "write"}
        assert client.post(f"{GROUPS}{group['id']}/members/", params=TEAM, json={"user_id": 8, "role": "boss"}).status_code == 400
        changed = client.patch(f"{GROUPS}{group['id']}/members/7/", params=TEAM, json={"role": "admin"})
        assert changed.json()["role"] == "admin"
        members = client.get(f"{GROUPS}{group['id']}/members/", params=TEAM).json()
        assert [item["user_id"] for item in members] == [7]
        assert client.get(GROUPS, params=TEAM).json()[0]["member_count"] == 1

        rule = client.post(
            RULES, params=TEAM,
            json={"resource_type": "namespace", "resource_id": "ns-1", "permission": "write", "group_id": group["id"]},
        )
        assert rule.status_code == 201
        assert rule.json()["group_name"] == "production-team"
        both = client.post(RULES, params=TEAM, json={"resource_type": "namespace", "permission": "read"})
        assert both.status_code == 400
        patched = client.patch(f"{RULES}{rule.json()['id']}/", params=TEAM, json={"permission": "read"})
        assert patched.json()["permission"] == "read"
        assert [item["id"] for item in client.get(RULES, params=TEAM).json()] == [rule.json()["id"]]

        assert client.delete(f"{RULES}{rule.json()['id']}/", params=TEAM).status_code == 204
        assert client.delete(f"{GROUPS}{group['id']}/members/7/", params=TEAM).status_code == 204
        assert client.delete(f"{GROUPS}{group['id']}/members/7/", params=TEAM).status_code == 404
        assert client.delete(f"{GROUPS}{group['id']}/", params=TEAM).status_code == 204
        assert client.get(GROUPS, params=TEAM).json() == []
        assert client.patch(f"{GROUPS}{group['id']}/", params=TEAM, json={"name": "x"}).status_code == 404


def test_groups_are_per_team(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as team_a, client_for(fresh_emulator, EMULATOR_OTHER_TOKEN) as team_b:
        group = team_a.post(GROUPS, params=TEAM, json={"name": "a-only"}).json()
        assert team_b.get(GROUPS, params={"team_name": EMULATOR_OTHER_TEAM}).json() == []
        hidden = team_b.delete(f"{GROUPS}{group['id']}/", params={"team_name": EMULATOR_OTHER_TEAM})
        assert hidden.status_code == 404
        assert team_b.get(GROUPS, params=TEAM).status_code == 403
