"""Serving the reply form with uvicorn, in a background thread (``chaser run``, tests, demos).

The access log stays off: it would write each link's token, which is a credential. The app
logs every request itself with the token cut out.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from fastapi import FastAPI


class FormServer:
    """``with FormServer(app, port=8080) as server: ...`` serves ``app`` until the block ends."""

    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int = 8080) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            access_log=False,
            log_config=None,
            lifespan="off",
            # The app believes X-Forwarded-* only from the proxies it was told of; uvicorn's
            # own default would believe any from 127.0.0.1.
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self.server.run, name="form-server", daemon=True)

    def start(self, timeout: float = 10.0) -> Self:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the reply form did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
