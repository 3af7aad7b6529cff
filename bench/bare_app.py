"""The baseline: the same Litestar stack with a JSON route that stores nothing, served by the
same server as ``leadhook serve`` (``handlers._server.run``: uvicorn on uvloop with
httptools, the same accept loop, connection rules and frozen startup heap):
``python -m bench.bare_app PORT``."""

from __future__ import annotations

import sys
from typing import Any

import msgspec
from litestar import Litestar, Request, post

from config import Settings
from handlers._server import run


@post("/bare", status_code=200)
async def bare(request: Request) -> dict[str, Any]:
    payload = msgspec.json.decode(await request.body())
    return {"success": True, "deduped": False, "keys": len(payload)}


app = Litestar(route_handlers=[bare], debug=False)


def main(port: int) -> None:
    settings = Settings(log_level="WARNING")
    run(app, settings, "127.0.0.1", port, log_config=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
