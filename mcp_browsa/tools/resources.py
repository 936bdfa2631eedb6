"""MCP resources: each job as JSON (`browsa://jobs/{id}`) and its screenshots as PNG."""

import json

import anyio
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from mcp_browsa.app import Browsa
from mcp_browsa.errors import BrowsaError
from mcp_browsa.server import BrowsaServer, caller_for

__all__ = ["register"]


def register(server: BrowsaServer, app: Browsa) -> None:
    @server.resource(
        "browsa://jobs/{job_id}", mime_type="application/json", description="A job, as get_job returns it."
    )
    async def job_resource(job_id: str) -> str:
        try:
            job = await app.get_job(caller_for(), job_id)
        except BrowsaError as exc:
            raise ResourceNotFoundError(exc.message) from exc
        return job.model_dump_json(exclude_none=True)

    @server.resource("browsa://jobs/{job_id}/screenshots/{n}", mime_type="image/png", description="A job screenshot.")
    async def screenshot_resource(job_id: str, n: str) -> bytes:
        try:
            job = await app.get_job(caller_for(), job_id)
        except BrowsaError as exc:
            raise ResourceNotFoundError(exc.message) from exc
        for num, path in await app.screenshot_files(job.id):
            if str(num) == n.lstrip("0") or (num == 0 and n.strip("0") == ""):
                return await anyio.Path(path).read_bytes()
        raise ResourceNotFoundError(f"job {job.id} has no screenshot {n}")

    @server.resource(
        "browsa://schemas",
        mime_type="application/json",
        description="Which result schema each tool returns (its structuredContent), by name.",
    )
    async def schema_index() -> str:
        catalog = await server.result_schemas()
        return json.dumps({"results": catalog.results, "schemas": sorted(catalog.schemas)})

    @server.resource(
        "browsa://schemas/{name}",
        mime_type="application/schema+json",
        description="The JSON Schema of a tool result (e.g. Job), as browsa://schemas names it.",
    )
    async def schema_resource(name: str) -> str:
        schema = (await server.result_schemas()).schemas.get(name)
        if schema is None:
            raise ResourceNotFoundError(f"no result schema named {name!r}")
        return json.dumps(schema, ensure_ascii=False)
