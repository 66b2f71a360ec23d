"""`outbound-panel relay`: receives Twilio's webhooks and event callbacks and publishes them on NATS JetStream
(core/relay.py). `--setup` points the account's Conversations webhooks and the workspace's event callbacks at it.

    relay_main(args, settings)   # from tui.cli: the relay, until interrupted (or the setup, then exit)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from core.settings import Settings
from tui.arguments import count, duration, port

TASKROUTER_EVENTS = ("task.created,task.updated,task.canceled,task.completed,task.wrapup,reservation.created,"
                     "reservation.accepted,reservation.rejected,reservation.timeout,reservation.canceled,"
                     "reservation.rescinded,reservation.wrapup,reservation.completed,worker.activity.update")
CONVERSATIONS_EVENTS = ["onMessageAdded", "onDeliveryUpdated", "onConversationStateUpdated", "onParticipantAdded",
                        "onParticipantRemoved"]


def add_command(commands: Any) -> None:
    relay = commands.add_parser(
        "relay", help="receive Twilio's webhooks and publish them to terminals through NATS JetStream",
        description="Receive Twilio's Conversations webhooks and TaskRouter event callbacks (signatures checked "
        "against --public-url) and publish them per worker on NATS JetStream. Needs the relay extra: "
        "pip install 'outbound-panel[relay]'.")
    relay.add_argument("--public-url", metavar="URL",
                       help="the address Twilio posts to (what it signs), e.g. https://relay.example.com")
    relay.add_argument("--port", type=port, default=8412, help="port on --host (default 8412)")
    relay.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    relay.add_argument("--nats", metavar="URL", help="the NATS server (default: relay.nats_url, else "
                       "nats://127.0.0.1:4222); its user and password are relay.nats_user and "
                       "OUTBOUND_PANEL_RELAY__NATS_PASSWORD")
    relay.add_argument("--heartbeat", type=duration, default=2.0,
                       help="time between this relay's heartbeats to terminals: 2, 2s, 1m (default 2 s)")
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
        return write_users(args.nats_users, args.agents, args.force)
    if args.agents or not args.public_url:
        print("outbound-panel: relay: " + (f"{args.agents[0]!r} is given without --nats-users" if args.agents
                                           else "--public-url is needed (the address Twilio posts to)"),
              file=sys.stderr)
        return 2
    twilio = settings.twilio
    if not twilio.auth_token:
        print("outbound-panel: Twilio signs webhooks with the account's auth token: set TWILIO_AUTH_TOKEN (an API "
              "key cannot check them)", file=sys.stderr)
        return 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(setup(args, settings) if args.setup else serve(args, settings))
    except OSError as error:
        print(f"outbound-panel: relay: {error.strerror or error}", file=sys.stderr)
        return 2
    return 0


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    try:
        import nats
    except ImportError:
        print("outbound-panel: the relay needs the relay extra: pip install 'outbound-panel[relay]'", file=sys.stderr)
        return 2
    from aiohttp import web

    from core.relay import Relay

    assert settings.twilio.auth_token is not None
    server = args.nats or settings.relay.nats_url or "nats://127.0.0.1:4222"
    password = settings.relay.nats_password
    try:
        connection = await nats.connect(server, user=settings.relay.nats_user, max_reconnect_attempts=-1,
                                        password=password.get_secret_value() if password else None)
    except Exception as error:  # nats-py raises its own kinds (no servers, auth): never with the password in them
        print(f"outbound-panel: relay: cannot reach NATS at {server}: {str(error) or type(error).__name__}",
              file=sys.stderr)
        return 2
    try:
        relay = Relay(args.public_url, settings.twilio.auth_token.get_secret_value(), connection.jetstream(),
                      replicas=args.replicas, heartbeat=args.heartbeat)
        await relay.prepare()
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


def write_users(folder: Path, agents: list[str], force: bool, port: int = 4222) -> int:
    """DIR/nats.conf (JetStream on 127.0.0.1:`port`, its store in DIR/jetstream; the relay's user and one per agent,
    core.relay.server_users) and the settings each needs (DIR/relay.env, DIR/<agent>.env), all 0600 with new
    passwords. Refuses to replace them (and so the passwords in use) without `force`."""
    import json
    import secrets

    from core.relay import server_users

    if not agents:
        print("outbound-panel: relay: --nats-users needs the agents' identities, e.g. alice@example.com",
              file=sys.stderr)
        return 2
    if bad := next((agent for agent in agents if not agent.strip() or "/" in agent or agent.startswith(".")), None):
        print(f"outbound-panel: relay: {bad!r} is not an agent's identity (a worker's friendly name)", file=sys.stderr)
        return 2
    url = f"nats://127.0.0.1:{port}"
    users = {agent: (f"agent-{index}", secrets.token_urlsafe(24)) for index, agent in enumerate(agents, 1)}
    relay = ("relay", secrets.token_urlsafe(24))
    files = {"nats.conf": json.dumps({"listen": f"127.0.0.1:{port}",
                                      "jetstream": {"store_dir": str((folder / "jetstream").resolve())},
                                      "authorization": {"users": server_users(relay, users)}}, indent=2) + "\n",
             "relay.env": _env(url, *relay)}
    files.update({f"{agent}.env": _env(url, *users[agent], agent) for agent in agents})
    if not force and (there := [name for name in files if (folder / name).exists()]):
        print(f"outbound-panel: relay: {folder / there[0]} is there already (its passwords may be in use): add "
              "--force to write new ones", file=sys.stderr)
        return 3
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, text in files.items():
        path = folder / name
        path.unlink(missing_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(text)
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
    from core.twilio_client import open_client

    base = args.public_url.rstrip("/")
    wanted = {"conversations": f"{base}/conversations", "taskrouter": f"{base}/taskrouter"}
    async with open_client(settings) as client:
        webhooks = client.conversations.v1.configuration.webhooks()
        workspace = client.taskrouter.v1.workspaces(settings.flex.workspace_sid)
        now = {"conversations": (await webhooks.fetch_async()).post_webhook_url,
               "taskrouter": (await workspace.fetch_async()).event_callback_url}
        foreign = {name: url for name, url in now.items() if url and url != wanted[name]}
        if foreign and not args.force:
            said = "; ".join(f"{name} posts to {url}" for name, url in foreign.items())
            print(f"outbound-panel: {said}: add --force to replace it", file=sys.stderr)
            return 3
        await webhooks.update_async(post_webhook_url=wanted["conversations"], filters=CONVERSATIONS_EVENTS,
                                    method="POST")
        await workspace.update_async(event_callback_url=wanted["taskrouter"], events_filter=TASKROUTER_EVENTS)
    for name, url in wanted.items():
        replaced = f" (was {now[name]})" if now[name] and now[name] != url else ""
        print(f"{name}: events go to {url}{replaced}", flush=True)
    return 0
