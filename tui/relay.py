"""`outbound-panel relay`: receives Twilio's webhooks and event callbacks and publishes them on NATS JetStream
(core/relay.py). `--setup` points the account's Conversations webhooks and the workspace's event callbacks at it.

    relay_main(args, settings)   # from tui.cli: the relay, until interrupted (or the setup, then exit)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
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
    relay.add_argument("--public-url", required=True, metavar="URL",
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
    relay.add_argument("--force", action="store_true", help="with --setup: replace another URL already set")


def relay_main(args: argparse.Namespace, settings: Settings) -> int:
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
