"""Pipeline and schedule lookups: by name, the runs of a definition, lost-response reconciliation."""

from __future__ import annotations

import pytest

from studio_provider.client import StudioClient, StudioConfig, StudioError, StudioNotFoundError
from studio_provider.client.lookups import (
    definitions_from,
    find_pipeline,
    find_schedule,
    newest_unknown,
    resolve_definition,
    runs_of,
)
from studio_provider.emulator import EmulatorServer
from tests.pipeline_helpers import build_lineage, pipeline_reading


def test_newest_unknown_picks_the_first_new_id() -> None:
    items = [pipeline_reading("PENDING", [], pipeline_id=i) for i in ("new-2", "new-1", "old")]
    assert newest_unknown(items, {"old"}).pipeline_id == "new-2"  # type: ignore[union-attr]
    assert newest_unknown(items, {"old", "new-1", "new-2"}) is None


@pytest.fixture
def server(fresh_emulator: EmulatorServer) -> EmulatorServer:
    build_lineage(fresh_emulator)
    return fresh_emulator


def client_config(server: EmulatorServer) -> StudioConfig:
    return StudioConfig.resolve(url=server.url, token=server.token, team=server.team)


@pytest.mark.integration
def test_lookups_by_name_and_the_runs_of_a_definition(server: EmulatorServer) -> None:
    with StudioClient(client_config(server)) as client:
        before = {item.pipeline_id for item in definitions_from(client, ["stats"])}
        definition = client.trigger_pipeline(datasets=["stats"])
        assert before == set()
        assert [item.pipeline_id for item in definitions_from(client, ["stats"])] == [definition.pipeline_id]
        assert definitions_from(client, ["features"]) == []
        assert definition.name
        assert find_pipeline(client, definition.name, definition=True) == definition
        assert find_pipeline(client, "no-such-name") is None
        run = client.run_pipeline(definition_id=definition.pipeline_id)
        assert [item.pipeline_id for item in runs_of(client, definition)] == [run.pipeline_id]
        assert resolve_definition(client, name=definition.name).pipeline_id == definition.pipeline_id
        assert resolve_definition(client, definition_id=run.pipeline_id).pipeline_id == definition.pipeline_id
        with pytest.raises(StudioNotFoundError, match="No Studio pipeline definition is named 'nope'"):
            resolve_definition(client, name="nope")


@pytest.mark.integration
def test_find_schedule_refuses_ambiguous_names(server: EmulatorServer) -> None:
    with StudioClient(client_config(server)) as client:
        definition = client.trigger_pipeline(datasets=["stats"])
        assert find_schedule(client, "twin") is None
        first = client.create_schedule(
            schedule_name="twin", pipeline_id=definition.pipeline_id, cron_expression="0 1 * * *"
        )
        assert find_schedule(client, "twin") == first
        second = client.create_schedule(
            schedule_name="twin", pipeline_id=definition.pipeline_id, cron_expression="0 2 * * *"
        )
        with pytest.raises(StudioError, match=f"ids {first.id}, {second.id}"):
            find_schedule(client, "twin")


@pytest.mark.integration
def test_find_schedule_matches_the_name_exactly(server: EmulatorServer) -> None:
    with StudioClient(client_config(server)) as client:
        definition = client.trigger_pipeline(datasets=["stats"])
        for name in ("nightly-eu", "Nightly", "nightly ", "nightly [x]"):
            client.create_schedule(
                schedule_name=name, pipeline_id=definition.pipeline_id, cron_expression="0 1 * * *"
            )
        assert find_schedule(client, "nightly") is None
        exact = client.create_schedule(
            schedule_name="nightly", pipeline_id=definition.pipeline_id, cron_expression="0 2 * * *"
        )
        found = find_schedule(client, "nightly")
        assert found is not None and found.id == exact.id
