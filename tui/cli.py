"""The `outbound-panel` command: wires settings, the backend (Twilio or the embedded simulator) and the app."""

from __future__ import annotations

import gc

gc.disable()  # start-up allocates much and frees little: no collection during these imports (enabled below)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from typing import TYPE_CHECKING, Any, AsyncIterator, NoReturn, Sequence  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

from pydantic import SecretStr  # noqa: E402

from core.links import FORMS, LinkError, Prefill, message_link  # noqa: E402
from core.logs import exposed_secret_warning, setup_logging  # noqa: E402
from core.models import Channel  # noqa: E402
from core.settings import Settings, SettingsError, load_settings  # noqa: E402
from tui.arguments import port, seconds  # noqa: E402
from tui.commands import add_commands  # noqa: E402
from tui.relay import add_command as add_relay_command  # noqa: E402
from tui.ssh import add_command as add_ssh_command  # noqa: E402

gc.enable()

if TYPE_CHECKING:
    from core.session import Session
    from sim.world import SimConfig

# twilio, aiohttp and the simulator are imported where they are used, after the app's first frame.

log = logging.getLogger("outbound_panel.cli")


def _parser() -> _OneLineParser:
    parser = _OneLineParser(
        prog="outbound-panel",
        usage="%(prog)s [--agent NAME] [LINK | --to NUMBER --body TEXT --channel sms|whatsapp] | COMMAND …",
        description="Outbound SMS/WhatsApp for Twilio Flex agents. With no Twilio credentials "
        "configured it runs on an embedded Twilio simulator. LINK (click-to-message) opens the panel with its "
        f"draft, the cursor in the message: {FORMS}.",
    )
    parser.add_argument("--agent", metavar="NAME", help="the agent (worker friendly name) to log in as")
    draft = parser.add_argument_group("opening the panel with a draft (as a LINK does)")
    draft.add_argument("--to", dest="prefill_to", metavar="NUMBER", help="the customer's number")
    draft.add_argument("--body", dest="prefill_body", metavar="TEXT", help="the message")
    draft.add_argument("--channel", dest="prefill_channel", choices=[c.value for c in Channel],
                       help="sms or whatsapp (default: the panel's first)")
    commands = parser.add_subparsers(dest="command", parser_class=_OneLineParser, prog="outbound-panel")
    simulator = commands.add_parser("sim", help="run the Twilio simulator alone, for several terminals")
    simulator.add_argument("--port", type=port, default=8411, help="port on 127.0.0.1 (default 8411)")
    simulator.add_argument("--latency", type=seconds, default=0.0, help="seconds added to every request")
    simulator.add_argument(
        "--colleagues-accept", type=seconds, metavar="SECONDS",
        help="simulated colleagues: every worker not named by --human accepts each task offered to them "
        "SECONDS after the offer (default: off, every task waits for a terminal to accept it)",
    )
    simulator.add_argument(
        "--human", action="append", default=[], metavar="NAME",
        help="a worker (friendly name) at a terminal, whose tasks are never accepted for them; repeatable",
    )
    add_commands(commands)
    add_ssh_command(commands)
    add_relay_command(commands)
    parser.commands = tuple(commands.choices)
    return parser


class _OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line on stderr naming it, and exit 2 (argparse prints the whole usage too); an
    option is spelled out (no --bo for --body) and given once."""

    commands: tuple[str, ...] = ()  # the subcommands' names, on the main parser

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})
        self.register("action", None, _Once)
        self.register("action", "store", _Once)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


class _Once(argparse.Action):
    """An option's value, refused when the option comes twice (argparse keeps the last without a word)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if option_string is not None and option_string in getattr(namespace, "_given", set()):
            parser.error(f"{option_string} is given twice: which value is meant?")
        namespace._given = getattr(namespace, "_given", set()) | {option_string}
        setattr(namespace, self.dest, values)


def _sim_config(settings: Settings) -> SimConfig:
    """The embedded simulator's world: every seeded worker but the agent is a colleague who accepts."""
    from sim.world import SimConfig

    return SimConfig(
        customer_reply_delay=settings.sim.customer_reply_delay,
        delivery_delay=settings.sim.delivery_delay,
        colleague_accept_delay=settings.sim.colleague_accept_delay,
        inbound_every=settings.sim.inbound_every,
        humans=frozenset({settings.agent.identity}),
    )


def _standalone_config(args: argparse.Namespace, settings: Settings) -> SimConfig:
    """`outbound-panel sim`'s world: several people at terminals, so colleagues only with --colleagues-accept."""
    config = _sim_config(settings)
    config.latency = args.latency
    config.colleague_accept_delay = args.colleagues_accept
    config.humans = frozenset(args.human)
    twilio = settings.twilio
    if twilio.has_credentials:
        config.account_sid = str(twilio.account_sid)
        username, password = twilio.credentials()
        config.credentials = [(username, password.get_secret_value())]
    return config


@contextlib.asynccontextmanager
async def backend(settings: Settings) -> AsyncIterator[tuple[Settings, str]]:
    """Real Twilio when credentials are configured; otherwise an embedded simulator on 127.0.0.1.

    Yields the settings to connect with and a label saying where they lead.
    """
    if settings.twilio.has_credentials:
        yield settings, urlsplit(settings.twilio.base_url).netloc if settings.twilio.base_url else "Twilio"
        return
    from sim.server import Simulator

    async with contextlib.AsyncExitStack() as stack:
        try:
            simulator = await stack.enter_async_context(Simulator(_sim_config(settings), port=settings.sim.port))
        except OSError as error:  # e.g. [sim] port taken
            raise SimulatorFailed(f"could not start the Twilio simulator: {error.strerror or error}") from error
        yield on_simulator(settings, simulator.base_url), "simulator"


class SimulatorFailed(OSError):
    """The embedded simulator could not start on this machine; str() says why."""


def on_simulator(settings: Settings, base_url: str) -> Settings:
    """`settings` pointed at the simulator at `base_url`, with its seeded demo credentials."""
    from sim import seed

    twilio = settings.twilio.model_copy(
        update={"account_sid": seed.ACCOUNT_SID, "auth_token": SecretStr(seed.DEMO_AUTH_TOKEN), "base_url": base_url}
    )
    return settings.model_copy(update={"twilio": twilio})


@contextlib.asynccontextmanager
async def connect(settings: Settings, resume: bool = True) -> AsyncIterator[tuple[Session, str]]:
    """The agent's session on the backend; what the app enters once it is on screen. `resume` False: the
    unfinished sends of earlier runs are not followed (a one-shot command)."""
    from core.session import open_session

    # The embedded simulator's world ends with the app, so its sends are kept in memory only: the history
    # file (core.history.default_path) holds the sends of real accounts and of shared `outbound-panel sim`s.
    history = None if settings.twilio.has_credentials else ":memory:"
    async with backend(settings) as (connected, label):
        async with open_session(connected, history_path=history, resume=resume) as session:
            yield session, label


def where(settings: Settings) -> str:
    if settings.twilio.has_credentials:
        return settings.twilio.base_url or "Twilio"
    return "the embedded Twilio simulator"


async def _run_app(settings: Settings, warnings: Sequence[str] = (), prefill: Prefill | None = None) -> int:
    """Runs the app; its exit code (1 when it ended on an error)."""
    gc.disable()  # until the first frame is out (OutboundPanelApp.on_ready): start-up allocates, frees little
    from tui import terminal_input
    from tui.app import OutboundPanelApp  # textual is imported only when the app runs

    terminal_input.install()  # a paste with escape sequences arrives whole and in order; a stray byte is no crash
    app = OutboundPanelApp(settings, lambda: connect(settings), where(settings), warnings, prefill)
    app.collect_after_first_frame = True
    await app.run_async()
    return app.return_code or 0


def _start_logging(settings: Settings, command: str | None) -> list[str]:
    """The log file, before anything may log; returns the warnings to show at start (also logged)."""
    # the embedded simulator's demo token is public, but a token all the same: redacted like a real one
    redacted = settings if settings.twilio.has_credentials else on_simulator(settings, "http://127.0.0.1")
    warnings = []
    try:
        path = setup_logging(redacted)
    except OSError as error:  # logging is then off, and never on the terminal: the app shows it (a print is drawn over)
        warnings.append(f"Cannot write the log file, running without it: {error}")
    else:
        running = "the standalone Twilio simulator" if command == "sim" else f"the app on {where(settings)}"
        log.info("outbound-panel started: %s; logging to %s", running, path)
    if warning := exposed_secret_warning():
        warnings.append(warning)
        log.warning(warning)
    return warnings


def _run_sim(args: argparse.Namespace, settings: Settings) -> None:
    from sim import seed
    from sim.server import serve_forever

    config = _standalone_config(args, settings)
    if settings.twilio.has_credentials:
        how = "with the credentials in your environment"
    else:
        how = f"TWILIO_ACCOUNT_SID={seed.ACCOUNT_SID} TWILIO_AUTH_TOKEN={seed.DEMO_AUTH_TOKEN}"

    def announce(base_url: str) -> None:
        print(f"Twilio simulator on {base_url}")
        if config.colleague_accept_delay is not None:
            who = f"Every worker but {', '.join(sorted(config.humans))}" if config.humans else "Every worker"
            print(f"{who} accepts the tasks offered to them after {config.colleague_accept_delay:g} s")
        print(f"Connect agents with: TWILIO_BASE_URL={base_url} {how} outbound-panel --agent NAME", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(config, args.port, announce))


def _link_apart(parser: _OneLineParser, argv: list[str]) -> tuple[list[str], str | None]:
    """The arguments without a click-to-message LINK, and the link: the first word that is not an option, an
    option's value or a command."""
    valued = {option for action in parser._actions if action.nargs is None for option in action.option_strings}
    position = 0
    while position < len(argv):
        word = argv[position]
        if word in parser.commands or word == "--":
            break
        if not word.startswith("-"):
            return argv[:position] + argv[position + 1:], word
        position += 2 if word in valued else 1
    return argv, None


def _prefill(args: argparse.Namespace, link: str | None, settings: Settings) -> Prefill | None:
    """The draft the panel opens with, from a LINK or --to/--body/--channel; LinkError when it cannot be used."""
    flags = [f"--{name}" for name in ("to", "body", "channel") if getattr(args, f"prefill_{name}") is not None]
    if flags and link:
        raise LinkError(f"{flags[0]}: the link {link!r} carries its own draft; give one or the other")
    if flags and args.command:
        where = f"after {args.command}" if args.command == "send" else f"to open the panel, not with {args.command}"
        raise LinkError(f"{flags[0]} before a command opens the panel with a draft: give it {where}")
    if link is not None and args.command is not None:
        raise LinkError(f"{link!r}: a link opens the panel alone, not with {args.command}")
    if link is None and not flags:
        return None
    draft = message_link(link) if link is not None else Prefill(
        Channel(args.prefill_channel) if args.prefill_channel else None, args.prefill_to or "", args.prefill_body or "")
    if draft.channel is not None and not getattr(settings.senders, draft.channel.value):
        raise LinkError(f"{'the link' if link else '--channel'} is for {draft.channel.value}, but no "
                        f"{draft.channel.value} sender is configured ([senders] {draft.channel.value} in settings)")
    return draft


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    words, link = _link_apart(parser, list(sys.argv[1:] if argv is None else argv))
    if link is not None and ":" not in link:
        parser.error(f"{link!r} is not a command ({', '.join(parser.commands)}) or a message link ({FORMS})")
    args = parser.parse_args(words)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"outbound-panel: {error}", file=sys.stderr)
        return 2
    try:
        prefill = _prefill(args, link, settings)
    except LinkError as error:
        print(f"outbound-panel: {error}", file=sys.stderr)
        return 2
    if args.agent:
        settings = settings.model_copy(
            update={"agent": settings.agent.model_copy(update={"identity": args.agent, "worker_sid": None})}
        )
    warnings = _start_logging(settings, args.command)
    if args.command == "serve-ssh":
        from tui.ssh import ssh_main

        return ssh_main(args)
    if args.command == "relay":
        from tui.relay import relay_main

        return relay_main(args, settings)
    if args.command in ("send", "sends", "templates"):
        from tui import commands

        try:
            return asyncio.run(commands.run(args, settings))
        except KeyboardInterrupt:  # ctrl+c: a send cut off is in the journal, settled at the next run
            print("outbound-panel: interrupted", file=sys.stderr)
            return 130
    try:
        if args.command == "sim":
            for warning in warnings:
                print(f"outbound-panel: {warning}", file=sys.stderr)
            _run_sim(args, settings)
        else:
            from tui.keymap import check_keymap  # imports textual: only when the app runs

            if problems := check_keymap(settings.ui.keys):
                print("\n".join(f"outbound-panel: {problem}" for problem in problems), file=sys.stderr)
                return 2
            return asyncio.run(_run_app(settings, warnings, prefill))
    except OSError as error:  # e.g. the simulator's port is taken
        print(f"outbound-panel: could not start the Twilio simulator: {error.strerror or error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
