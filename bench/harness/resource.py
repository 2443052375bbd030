"""
The example resource server (``examples/resource_server``) under load, as
its README runs it: granian's WSGI server, as many worker processes as the
projects' gunicorn has, in front of the authsvc server that signs ES256. It
checks every token locally (the JWKS cached, each token verified once and
then kept, the revocation feed polled every 0.5 s by each worker), so its
GET /orders is set against authsvc's own GET /me at the same concurrency.
Its access tokens come from logins at that authsvc server. ``RESOURCE_SERVER=
gunicorn`` in the environment runs it under gunicorn instead, to compare.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import PYTHON, ROOT
from .procs import base_env
from .servers import FEED_CLIENT, Project, Server, http_request

EXAMPLE = ROOT / "examples" / "resource_server"
GRANIAN = str(Path(PYTHON).with_name("granian"))


class ResourceServer(Server):
    def __init__(self, issuer: Server, workers: int, profile: bool = False) -> None:
        project = Project("resource", issuer.project.database, issuer.project.redis_url)
        super().__init__(project, workers, profile=profile)
        self.issuer = issuer

    def gunicorn_args(self) -> list[str]:
        """The server's command line (``Server.start`` runs what this returns): granian unless asked otherwise."""
        if os.environ.get("RESOURCE_SERVER") == "gunicorn":
            args = super().gunicorn_args()
            # Not a Django project: the example's own module, from its own directory.
            args[1] = "app:application"
            args[args.index("--chdir") + 1] = str(EXAMPLE)
            return args
        # granian's master forks the workers, which import the app, each with its own feed
        # thread; its children are the workers, so worker_pids() and the CPU per request hold.
        return [
            GRANIAN, "--interface", "wsgi", "--workers", str(self.workers), "--working-dir", str(EXAMPLE),
            "--host", "127.0.0.1", "--port", str(self.port), "--backlog", "2048", "--log-level", "warning",
            "app:application",
        ]

    def env(self) -> dict[str, str]:
        env = base_env()
        env.update({
            "AUTHSVC_URL": f"http://127.0.0.1:{self.issuer.port}",
            "FEED_CLIENT": FEED_CLIENT,
            "LOG_LEVEL": "WARNING",
        })
        return env

    def ready(self) -> bool:
        """Every worker has heard from the feed (a few answers in a row; sync workers take turns)."""
        return all(http_request(self.port, "GET", "/healthz")[0] == 200 for _ in range(2 * self.workers))
