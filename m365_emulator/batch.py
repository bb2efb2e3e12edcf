"""JSON batching: POST /v1.0/$batch ("Combine multiple HTTP requests using JSON batching").

Up to 20 requests; relative URLs; dependsOn orders requests and a failed dependency answers 424.
Independent requests run in parallel, four at a time: Graph dispatches at most four requests of a
batch to Outlook at once (Microsoft Q&A 1660054), so a batch alone stays within the mailbox
concurrency limit, while requests in flight outside it can still get an inner 429.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .errors import GraphError
from .identity import Caller
from .messages import Request, Response, graph_error

MAX_REQUESTS = 20
PARALLEL_DISPATCH = 4


def _bad(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


class Batch:
    def __init__(self, dispatch: Callable[[Request, Caller], Response]) -> None:
        self.dispatch = dispatch

    def routes(self) -> list[tuple[str, str, Callable]]:
        return [("POST", r"/\$batch", self.handle)]

    def handle(self, request: Request, caller: Caller, match: re.Match) -> Response:
        body = request.json()
        items = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise _bad("Invalid batch payload format.")
        if len(items) > MAX_REQUESTS:
            raise _bad(f"Number of batch requests exceeds the maximum of {MAX_REQUESTS}.")
        ids = [str(i.get("id", "")) for i in items]
        if "" in ids or len(set(ids)) != len(ids):
            raise _bad("Every batch request needs a unique id.")
        for item in items:
            for dep in item.get("dependsOn") or []:
                if dep not in ids or ids.index(dep) >= ids.index(str(item["id"])):
                    raise _bad(f"Request '{item['id']}' depends on an unknown or later request.")
        if any(i.get("dependsOn") for i in items):
            results: dict[str, dict[str, Any]] = {}
            for item in items:
                failed = [d for d in item.get("dependsOn") or []
                          if not 200 <= results[d]["status"] < 300]
                results[str(item["id"])] = (self._failed_dependency(item) if failed
                                            else self._run(item, request, caller))
            responses = [results[i] for i in ids]
        else:
            with ThreadPoolExecutor(max_workers=PARALLEL_DISPATCH) as pool:
                responses = list(pool.map(lambda i: self._run(i, request, caller), items))
        return Response.json(200, {"responses": responses})

    def _failed_dependency(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"id": str(item["id"]), "status": 424, "headers": {},
                "body": {"error": {"code": "FailedDependency",
                                   "message": "A request this request depends on failed."}}}

    def _run(self, item: dict[str, Any], outer: Request, caller: Caller) -> dict[str, Any]:
        url = str(item.get("url", ""))
        if not url or url.startswith("http"):
            answer = graph_error(_bad("The batch request url must be relative."), outer)
        else:
            headers = {**{k.lower(): str(v) for k, v in (item.get("headers") or {}).items()}}
            body = item.get("body")
            inner = Request.build(str(item.get("method", "GET")), "/" + url.lstrip("/"), headers,
                                  json.dumps(body).encode() if body is not None else b"",
                                  outer.client_ip)
            inner.request_id = outer.request_id
            try:
                answer = self.dispatch(inner, caller)
            except GraphError as error:
                answer = graph_error(error, inner)
        result: dict[str, Any] = {"id": str(item["id"]), "status": answer.status,
                                  "headers": answer.headers}
        if answer.body:
            result["body"] = answer.json_body()
        return result
