"""`outbound-panel relay`: receives Twilio's webhooks and event callbacks and publishes them on NATS JetStream
(core/relay.py). `--setup` points the account's Conversations webhooks and the workspace's event callbacks at it;
`--nats-users` writes a nats-server configuration with a user per agent.

    relay_main(args, settings)   # from tui.cli: the relay, until interrupted (or the setup, then exit)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from core.settings import Settings
from tui.arguments import count, heartbeat, nats, port, public_url

log = logging.getLogger("outbound_panel.relay")

TASKROUTER_EVENTS = ("task.created,task.updated,task.canceled,task.completed,task.wrapup,reservation.created,"
                     "reservation.accepted,reservation.rejected,reservation.timeout,reservation.canceled,"
                     "reservation.rescinded,reservation.wrapup,reservation.completed,worker.activity.update")
CONVERSATIONS_EVENTS = ["onMessageAdded", "onDeliveryUpdated", "onConversationStateUpdated", "onParticipantAdded",
                        "onParticipantRemoved"]
DEFAULT_NATS = "nats://127.0.0.1:4222"
_IDENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+-]{0,99}")  # a worker's name that is also a file's name


def add_command(commands: Any) -> None:
    relay = commands.add_parser(
        "relay", help="receive Twilio's webhooks and publish them to terminals through NATS JetStream",
        description="Receive Twilio's Conversations webhooks and TaskRouter event callbacks (signatures checked "
        "against --public-url) and publish them per agent on NATS JetStream. Needs the relay extra: "
        "pip install 'outbound-panel[relay]'.")
    relay.add_argument("--public-url", metavar="URL", type=public_url,
                       help="the address Twilio posts to (what it signs), e.g. https://relay.example.com")
    relay.add_argument("--port", type=port, default=8412, help="port on --host (default 8412)")
    relay.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    relay.add_argument("--nats", metavar="URL", type=nats,
                       help=f"the NATS server (a cluster's: comma-separated; default relay.nats_url, else "
                       f"{DEFAULT_NATS}); its user and password are relay.nats_user and "
                       "OUTBOUND_PANEL_RELAY__NATS_PASSWORD. With --nats-users: where the server listens")
    relay.add_argument("--heartbeat", type=heartbeat,
                       help="time between this relay's heartbeats to terminals, 0.2 s to 1 m (default relay.heartbeat)")
    relay.add_argument("--replicas", type=count, default=1,
                       help="copies JetStream keeps of each event (3 on a three-server cluster; default 1)")
    relay.add_argument("--setup", action="store_true",
                       help="point the account's webhooks and the workspace's event callbacks at --public-url, "
                       "then exit (says what it replaces)")
    relay.add_argument("--force", action="store_true",
                       help="with --setup: replace another URL already set; with --nats-users: new passwords")
    relay.add_argument("--nats-users", metavar="DIR", type=Path,
                       help="write a nats-server configuration with a user for the relay and one per AGENT (who may "
                       "read only their own events), and each one's settings (DIR/relay.env, DIR/AGENT.env, 0600), "
                       "then exit")
    relay.add_argument("agents", nargs="*", metavar="AGENT", help="with --nats-users: the agents' identities")


def relay_main(args: argparse.Namespace, settings: Settings) -> int:
    if args.nats_users is not None:
        return write_users(args.nats_users, args.agents, args.force, args.nats or DEFAULT_NATS)
    if args.agents or not args.public_url:
        return _say(f"{args.agents[0]!r} is given without --nats-users" if args.agents
                    else "--public-url is needed (the address Twilio posts to)")
    if not settings.twilio.auth_token:
        return _say("Twilio signs webhooks with the account's auth token: set TWILIO_AUTH_TOKEN (an API key cannot "
                    "check them)")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(setup(args, settings) if args.setup else serve(args, settings))
    except OSError as error:
        return _say(error.strerror or str(error))
    return 0


def _say(sentence: str, code: int = 2) -> int:
    print(f"outbound-panel: relay: {sentence}", file=sys.stderr)
    return code


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from nats.aio.client import Client
    except ImportError:
        return _say("the relay needs the relay extra: pip install 'outbound-panel[relay]'")
    from aiohttp import web

    from core.relay import Relay

    assert settings.twilio.auth_token is not None
    server = args.nats or settings.relay.nats_url or DEFAULT_NATS
    password = settings.relay.nats_password
    said: list[str] = []

    async def nats_error(error: Exception) -> None:  # one line in the log, not a traceback every 2 s
        said.append(str(error) or type(error).__name__)
        log.warning("relay: NATS: %s", said[-1])

    connection = Client()
    try:  # the first connect fails at once (one try per server), then reconnects never stop
        await connection.connect(server.split(","), user=settings.relay.nats_user, max_reconnect_attempts=1,
                                 password=password.get_secret_value() if password else None, error_cb=nats_error,
                                 reconnect_time_wait=0.2, connect_timeout=5)
        connection.options["max_reconnect_attempts"] = -1  # nats-py reads it at each reconnect
        connection.options["reconnect_time_wait"] = 1.0
    except Exception as error:  # nats-py's kinds (no servers, auth): never with the password in them
        await connection.close()
        return _say(f"cannot use NATS at {server}: {said[-1] if said else str(error) or type(error).__name__}")
    try:
        relay = Relay(args.public_url, settings.twilio.auth_token.get_secret_value(), connection.jetstream(),
                      replicas=args.replicas, heartbeat=args.heartbeat or settings.relay.heartbeat)
        try:
            await relay.prepare()
        except Exception as error:  # e.g. replicas a single server cannot keep
            return _say(f"cannot make the stream on NATS at {server}: {str(error) or type(error).__name__}")
        runner = web.AppRunner(relay.app())
        await runner.setup()
        await web.TCPSite(runner, args.host, args.port).start()
        print(f"Relay on {args.host}:{args.port} for {args.public_url}, publishing to {server}", flush=True)
        try:
            await relay.beat(connection, f"{args.host}:{args.port}")
        finally:
            await runner.cleanup()
    finally:
        await connection.close()
    return 0


def write_users(folder: Path, agents: list[str], force: bool, server: str) -> int:
    """DIR/nats.conf (JetStream listening where `server` says, its store in DIR/jetstream; the relay's user and one
    per agent, core.relay.server_users) and the settings each needs (DIR/relay.env, DIR/<agent>.env), all 0600 with
    new passwords. Refuses to replace them (and so the passwords in use) without `force`."""
    import json
    import secrets
    from urllib.parse import urlsplit

    from core.relay import server_users

    if not agents:
        return _say("--nats-users needs the agents' identities, e.g. alice@example.com")
    if bad := [agent for agent in agents if not _IDENTITY.fullmatch(agent) or agent == "relay"]:
        return _say(f"{bad[0]!r} cannot be an agent here: a worker's name of letters, digits and @._+- (not 'relay'), "
                    "which also names its settings file")
    if len(set(agents)) < len(agents):
        return _say(f"{next(a for a in agents if agents.count(a) > 1)!r} is given twice")
    if "," in server:
        return _say("--nats-users writes one server's configuration: give --nats one URL")
    where = urlsplit(server)
    url = f"nats://{where.hostname}:{where.port or 4222}"
    users = {agent: (f"agent-{index}", secrets.token_urlsafe(24)) for index, agent in enumerate(agents, 1)}
    relay = ("relay", secrets.token_urlsafe(24))
    files = {"nats.conf": json.dumps({"listen": f"{where.hostname}:{where.port or 4222}",
                                      "jetstream": {"store_dir": str((folder / "jetstream").absolute())},
                                      "authorization": {"users": server_users(relay, users)}}, indent=2) + "\n",
             "relay.env": _env(url, *relay)}
    files.update({f"{agent}.env": _env(url, *users[agent], agent) for agent in agents})
    try:
        if not force and (there := [name for name in files if (folder / name).exists()]):
            return _say(f"{folder / there[0]} is there already (its passwords may be in use): add --force to write "
                        "new ones", 3)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name, text in files.items():
            path = folder / name
            path.unlink(missing_ok=True)
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
                file.write(text)
    except OSError as error:
        return _say(f"cannot write in {folder}: {error.strerror or error}")
    print(f"Wrote {folder / 'nats.conf'} (start it: nats-server -c {folder / 'nats.conf'}), {folder / 'relay.env'} "
          f"and one settings file per agent ({', '.join(str(folder / f'{agent}.env') for agent in agents)}).",
          flush=True)
    return 0


def _env(url: str, user: str, password: str, agent: str | None = None) -> str:
    lines = [f"OUTBOUND_PANEL_RELAY__NATS_URL={url}", f"OUTBOUND_PANEL_RELAY__NATS_USER={user}",
             f"OUTBOUND_PANEL_RELAY__NATS_PASSWORD={password}"]
    return "\n".join(lines + ([f"OUTBOUND_PANEL_AGENT__IDENTITY={agent}"] if agent else [])) + "\n"


async def setup(args: argparse.Namespace, settings: Settings) -> int:
    """The account's Conversations post-event webhook and the workspace's event callback URL, set to the relay."""
    from core.errors import AuthenticationFailed, OutboundError
    from core.gateway import TwilioGateway
    from core.twilio_client import open_client

    base = args.public_url
    wanted = {"conversations": f"{base}/conversations", "taskrouter": f"{base}/taskrouter"}
    async with open_client(settings) as client:
        call = TwilioGateway(client, settings).call  # Twilio's failures as one sentence each
        webhooks = client.conversations.v1.configuration.webhooks()
        workspace = client.taskrouter.v1.workspaces(settings.flex.workspace_sid)
        try:
            now = {"conversations": (await call("reading the account's webhooks", webhooks.fetch_async()))
                   .post_webhook_url,
                   "taskrouter": (await call("reading the workspace", workspace.fetch_async())).event_callback_url}
            foreign = {name: url for name, url in now.items() if url and url != wanted[name]}
            if foreign and not args.force:
                said = "; ".join(f"{name} posts to {url}" for name, url in foreign.items())
                return _say(f"{said}: add --force to replace it", 3)
            await call("setting the account's webhooks", webhooks.update_async(
                post_webhook_url=wanted["conversations"], filters=CONVERSATIONS_EVENTS, method="POST"))
            await call("setting the workspace's event callbacks", workspace.update_async(
                event_callback_url=wanted["taskrouter"], events_filter=TASKROUTER_EVENTS))
        except OutboundError as error:
            return _say(str(error), 5 if isinstance(error, AuthenticationFailed) else 4)
    for name, url in wanted.items():
        replaced = f" (was {now[name]})" if now[name] and now[name] != url else ""
        print(f"{name}: events go to {url}{replaced}", flush=True)
    return 0
