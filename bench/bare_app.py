"""The baseline: the same Litestar stack with a JSON route that stores nothing."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar, Request, post


@post("/bare", status_code=200)
async def bare(request: Request) -> dict[str, Any]:
    payload = msgspec.json.decode(await request.body())
    return {"success": True, "deduped": False, "keys": len(payload)}


app = Litestar(route_handlers=[bare], debug=False)
