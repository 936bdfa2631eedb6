"""Jobs as MCP tasks: a 2025-11-25 client calls run_task as a task and follows it with tasks/get, tasks/result,
tasks/list and tasks/cancel — the same job get_job sees. The model is the client's own, through sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CallToolRequest,
    CallToolRequestParams,
    CallToolResult,
    CancelTaskRequest,
    CancelTaskRequestParams,
    CancelTaskResult,
    CreateTaskResult,
    GetTaskPayloadRequest,
    GetTaskPayloadRequestParams,
    GetTaskRequest,
    GetTaskRequestParams,
    GetTaskResult,
    ListTasksRequest,
    ListTasksResult,
    TaskMetadata,
)

from tests.agent.test_sampling import env, shopping, task_args
from tests.support.fake_llm import FakeLLM, PolicyReply, PolicyRequest
from tests.support.fake_sampling import sampling_client
from tests.support.mcp_server import ok, stdio_client
from tests.support.sites import Site

pytestmark = pytest.mark.anyio


async def call_as_task(client: Client, name: str, arguments: dict[str, Any]) -> CreateTaskResult:
    """`tools/call` with `task`, read as the CreateTaskResult the spec gives it.

    The SDK client has no task-augmented call and checks every tools/call answer as a CallToolResult, so this
    speaks the wire as a tasks-capable client does.
    """
    request = CallToolRequest(
        params=CallToolRequestParams(name=name, arguments=arguments, task=TaskMetadata(ttl=60_000))
    )
    data = request.model_dump(by_alias=True, mode="json", exclude_none=True)
    raw = await client.session._dispatcher.send_raw_request(data["method"], data["params"], None)
    return CreateTaskResult.model_validate(raw, by_name=False)


async def test_run_task_called_as_a_task_is_the_same_job_through_tasks_methods(
    home: Path, shop: Site, vendor: FakeLLM
) -> None:
    vendor.reset(shopping)
    options = sampling_client(vendor)
    async with stdio_client(home, options=options, **env(shop)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["run_task"].execution is not None and tools["run_task"].execution.task_support == "optional"
        with anyio.fail_after(20):  # returns at once even though the call asks to wait 60 s
            created = await call_as_task(client, "run_task", task_args(shop))
        task_id = created.task.task_id
        assert created.task.status == "working" and created.task.poll_interval

        state = await client.session.send_request(
            GetTaskRequest(params=GetTaskRequestParams(task_id=task_id)), GetTaskResult
        )
        assert state.task_id == task_id and state.status in ("working", "completed")

        result = await client.session.send_request(
            GetTaskPayloadRequest(params=GetTaskPayloadRequestParams(task_id=task_id)), CallToolResult
        )
        job = ok(result)
        assert job["id"] == task_id and job["status"] == "completed"
        assert job["result"]["data"] == {"name": "Wireless Earbuds X", "price": 39.99}
        assert ok(await client.call_tool("get_job", {"job_id": task_id, "wait": 0}))["status"] == "completed"

        done = await client.session.send_request(
            GetTaskRequest(params=GetTaskRequestParams(task_id=task_id)), GetTaskResult
        )
        assert done.status == "completed"
        listed = await client.session.send_request(ListTasksRequest(), ListTasksResult)
        assert [t.task_id for t in listed.tasks] == [task_id]

        with pytest.raises(MCPError, match="already ended"):
            await client.session.send_request(
                CancelTaskRequest(params=CancelTaskRequestParams(task_id=task_id)), CancelTaskResult
            )
        with pytest.raises(MCPError, match="not found"):
            await client.session.send_request(
                GetTaskRequest(params=GetTaskRequestParams(task_id="00000000-0000-0000-0000-000000000000")),
                GetTaskResult,
            )


async def test_tasks_cancel_stops_the_job(home: Path, shop: Site, vendor: FakeLLM) -> None:
    asked = anyio.Event()
    release = anyio.Event()

    def slow(request: PolicyRequest) -> PolicyReply:
        anyio.from_thread.run_sync(asked.set)
        anyio.from_thread.run(release.wait)
        return shopping(request)

    vendor.reset(slow)
    options = sampling_client(vendor)
    async with stdio_client(home, options=options, **env(shop)) as client:
        created = await call_as_task(client, "run_task", task_args(shop))
        task_id = created.task.task_id
        with anyio.fail_after(60):
            await asked.wait()
        cancelling = await client.session.send_request(
            CancelTaskRequest(params=CancelTaskRequestParams(task_id=task_id)), CancelTaskResult
        )
        assert cancelling.task_id == task_id
        release.set()
        result = await client.session.send_request(
            GetTaskPayloadRequest(params=GetTaskPayloadRequestParams(task_id=task_id)), CallToolResult
        )
        assert ok(result)["status"] == "cancelled"
