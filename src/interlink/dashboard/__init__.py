"""The live dashboard in the browser: topology, flow, backlog, dead letters, live tail, a ride's story.

    interlink dashboard --broker nats://127.0.0.1:4222        # http://127.0.0.1:8700/

or inside an application, as an ASGI app on a :class:`Board` (which keeps the
broker connection, taps the traffic and samples the registry once a second)::

    board = await Board("nats://127.0.0.1:4222").start()
    app = dashboard_app(board)        # any ASGI server; links follow root_path

The gateway mounts it with ``dashboard: {path: /ops/dashboard}`` in its config,
behind the gateway's own authentication. Needs ``pip install 'interlink[dashboard]'``.
"""

from interlink.dashboard._app import dashboard_app
from interlink.dashboard._board import Board
from interlink.dashboard._serve import serve

__all__ = ["Board", "dashboard_app", "serve"]
