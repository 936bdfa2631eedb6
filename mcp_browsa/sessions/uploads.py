"""The upload action: a file from the one directory the operator allows (BROWSA_UPLOAD_DIR) into a file input.

A path is taken relative to that directory and must stay inside it once resolved (no `..`, no symlink out), so
a page cannot talk the model into sending ~/.ssh/id_rsa. Without BROWSA_UPLOAD_DIR there are no uploads at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.async_api import Error as PlaywrightError

from mcp_browsa.engine.actions import ActionResult
from mcp_browsa.errors import BadRequest

if TYPE_CHECKING:
    from mcp_browsa.sessions.live import LiveSession

__all__ = ["allowed_file", "upload"]


def allowed_file(upload_dir: Path | None, name: object) -> Path:
    """The file `name` names inside `upload_dir`, or BadRequest saying why it cannot be sent."""
    if upload_dir is None:
        raise BadRequest("uploads are off on this server: the operator enables them with BROWSA_UPLOAD_DIR")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("upload needs `path`: a file name inside the upload directory")
    root = upload_dir.resolve()
    target = (root / name.strip()).resolve()
    if target != root and root not in target.parents:
        raise BadRequest(f"{name[:200]!r} is outside the upload directory; give a path inside it")
    if not target.is_file():
        listing = sorted(p.name for p in root.iterdir() if p.is_file())[:20] if root.is_dir() else []
        offer = f"; it holds: {', '.join(listing)}" if listing else "; it holds no files"
        raise BadRequest(f"no file {name[:200]!r} in the upload directory{offer}")
    return target


async def upload(live: LiveSession, args: dict[str, Any]) -> ActionResult:
    path = allowed_file(live.upload_dir, args.get("path"))
    obs = live.obs
    index = args.get("index")
    if obs is None or not isinstance(index, int) or index not in obs.elements:
        count = obs.element_count if obs is not None else 0
        return ActionResult(
            ok=False, summary="no such element", error=f"no element [{index}]; indices go 1..{count}", fault="input"
        )
    ref = obs.elements[index]
    if ref.frame.is_detached() or ref.frame.page is not live.tabs.active:
        return ActionResult(ok=False, summary=f"[{index}] is gone", error=f"element [{index}] is gone", fault="stale")
    if ref.tag != "input" or ref.attrs.get("type") != "file":
        return ActionResult(
            ok=False, summary="not a file input", error=f"{ref.describe()} is not a file input", fault="input"
        )
    try:
        await ref.frame.locator(ref.selector).first.set_input_files(path, timeout=5000)
    except PlaywrightError as exc:
        return ActionResult(ok=False, summary=f"could not upload to {ref.describe()}", error=str(exc).splitlines()[0])
    return ActionResult(ok=True, summary=f"chose {path.name} ({path.stat().st_size:,} bytes) in {ref.describe()}")
