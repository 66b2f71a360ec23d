"""The seeded demo world. settings.toml's defaults name the same workspace, flow, queue and senders."""

from __future__ import annotations

from dataclasses import dataclass


def fixed_sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


ACCOUNT_SID = fixed_sid("AC", 1)
# Not a secret: the simulator's own demo credential, used when no credentials are configured.
DEMO_AUTH_TOKEN = "simulator-demo-token"

WORKSPACE_SID = fixed_sid("WS", 1)
WORKFLOW_SID = fixed_sid("WW", 1)
QUEUE_SID = fixed_sid("WQ", 1)
STUDIO_FLOW_SID = fixed_sid("FW", 1)
CHAT_SERVICE_SID = fixed_sid("IS", 1)

SMS_SENDERS = ("+15017122661", "+15017122662")
WHATSAPP_SENDERS = ("+14155238886",)


@dataclass(frozen=True)
class Activity:
    sid: str
    name: str
    available: bool


ACTIVITIES = (
    Activity(fixed_sid("WA", 1), "Offline", False),
    Activity(fixed_sid("WA", 2), "Available", True),
    Activity(fixed_sid("WA", 3), "Unavailable", False),
    Activity(fixed_sid("WA", 4), "Break", False),
)
OFFLINE, AVAILABLE, UNAVAILABLE, BREAK = ACTIVITIES


@dataclass(frozen=True)
class Worker:
    sid: str
    friendly_name: str  # the Flex identity, decoded (an email)
    full_name: str
    activity: Activity


WORKERS = (
    Worker(fixed_sid("WK", 1), "alice@example.com", "Alice Johnson", AVAILABLE),
    Worker(fixed_sid("WK", 2), "bob@example.com", "Bob Martinez", AVAILABLE),
    Worker(fixed_sid("WK", 3), "carol@example.com", "Carol Nguyen", AVAILABLE),
    Worker(fixed_sid("WK", 4), "dave@example.com", "Dave O'Brien", OFFLINE),
)

# The seed's workflow, verbatim in shape: known-agent filter first, then the default queue.
WORKFLOW_CONFIGURATION = {
    "task_routing": {
        "filters": [
            {
                "filter_friendly_name": "Known Agent Routing Filter",
                "expression": 'KnownAgentRoutingFlag == "true"',
                "targets": [{"queue": QUEUE_SID, "known_worker_sid": "task.KnownAgentWorkerSid"}],
            }
        ],
        "default_filter": {"queue": QUEUE_SID},
    }
}


HOUR = 3600.0
WHATSAPP_WINDOW = 24 * HOUR  # free-form WhatsApp is allowed this long after the customer last wrote
SEEDED_INBOUND_AGE = 2 * HOUR  # customers with an open window wrote this long before the world began


@dataclass(frozen=True)
class PastMessage:
    age: float  # seconds before the world began
    from_customer: bool
    body: str


@dataclass(frozen=True)
class PastConversation:
    """A closed conversation from before the world began, visible through the Conversations API."""

    sid: str
    channel: str  # "sms" | "whatsapp"
    sender: str  # our number, E.164 without the channel prefix
    agent: str  # the worker (friendly name) who wrote our side
    messages: tuple[PastMessage, ...]  # oldest first


@dataclass(frozen=True)
class Customer:
    address: str  # E.164, no channel prefix
    name: str
    history: tuple[PastConversation, ...] = ()

    @property
    def whatsapp_window_open(self) -> bool:
        """Whether they wrote to our WhatsApp sender in the last 24 hours before the world began."""
        return any(past.channel == "whatsapp" and message.from_customer and message.age < WHATSAPP_WINDOW
                   for past in self.history for message in past.messages)


def _whatsapp(n: int, *messages: PastMessage) -> PastConversation:
    return PastConversation(fixed_sid("CH", 0x100 + n), "whatsapp", WHATSAPP_SENDERS[0], "bob@example.com", messages)


def _sms(n: int, *messages: PastMessage) -> PastConversation:
    return PastConversation(fixed_sid("CH", 0x100 + n), "sms", SMS_SENDERS[0], "bob@example.com", messages)


CUSTOMERS = (
    Customer("+14155550100", "Jane Doe", (_whatsapp(
        1,
        PastMessage(3 * HOUR, False, "Hello Jane, your order 1042 has shipped."),
        PastMessage(SEEDED_INBOUND_AGE, True, "Hi, can someone call me back about my order?"),
    ),)),
    Customer("+14155550101", "Omar Haddad", (_whatsapp(  # wrote 30 hours ago: his window closed 6 hours ago
        2,
        PastMessage(31 * HOUR, False, "Hello Omar, your refund has been processed."),
        PastMessage(30 * HOUR, True, "Thanks, that's all for now."),
    ),)),
    Customer("+14155550102", "Mei Tanaka", (_whatsapp(
        3,
        PastMessage(5 * HOUR, False, "Hi Mei, a reminder of your appointment on Monday."),
        PastMessage(SEEDED_INBOUND_AGE, True, "Is it still on? I may be a few minutes late."),
    ),)),
    Customer("+14155550103", "Sam Rivera", (_sms(  # opted out of our first SMS sender 3 days ago
        4,
        PastMessage(72 * HOUR + 600, False, "Winter sale: 20% off until Friday."),
        PastMessage(72 * HOUR, True, "STOP"),
    ),)),
)
HISTORY_SIDS = tuple(past.sid for customer in CUSTOMERS for past in customer.history)  # in creation order


@dataclass(frozen=True)
class MagicNumber:
    """Twilio's documented test numbers (and a few of ours) and what a message to them does."""

    address: str
    error_code: int | None  # delivery error, None = delivered
    status: str  # final receipt status: delivered, failed or undelivered
    replies: bool
    meaning: str


MAGIC_NUMBERS = (
    MagicNumber("+15005550001", 21211, "failed", False, "invalid number"),
    MagicNumber("+15005550002", 21612, "failed", False, "cannot route to this number"),
    MagicNumber("+15005550003", 21408, "failed", False, "no international permission"),
    MagicNumber("+15005550004", 21610, "failed", False, "recipient opted out (blocked)"),
    MagicNumber("+15005550006", None, "delivered", True, "valid number"),
    MagicNumber("+15005550009", 21614, "failed", False, "not a mobile number"),
    # The simulator's own, for delivery failures Twilio reports only asynchronously.
    MagicNumber("+15005550010", 30003, "undelivered", False, "unreachable handset"),
    MagicNumber("+15005550011", 30005, "undelivered", False, "unknown destination"),
    MagicNumber("+15005550012", 30006, "undelivered", False, "landline or unreachable carrier"),
    MagicNumber("+15005550013", 63024, "failed", False, "not on WhatsApp (whatsapp only)"),
    MagicNumber("+15005550014", None, "delivered", False, "delivered, never replies"),
)


@dataclass(frozen=True)
class Template:
    sid: str
    friendly_name: str
    language: str
    body: str
    variables: dict[str, str]  # placeholder -> default/sample value
    approval: str  # WhatsApp approval status


TEMPLATES = (
    Template(fixed_sid("HX", 1), "appointment_reminder", "en",
             "Hi {{1}}, this is a reminder of your appointment on {{2}}. Reply YES to confirm.",
             {"1": "Customer", "2": "Monday"}, "approved"),
    Template(fixed_sid("HX", 2), "order_update", "en",
             "Hello {{first_name}}, your order {{order_id}} has shipped.",
             {"first_name": "there", "order_id": "0000"}, "approved"),
    Template(fixed_sid("HX", 3), "follow_up", "en",
             "Hi! We tried to reach you earlier. Reply to this message to chat with an agent.",
             {}, "approved"),
    Template(fixed_sid("HX", 4), "seguimiento", "es",
             "Hola {{1}}, ¿podemos ayudarte con algo más?",
             {"1": "cliente"}, "pending"),
    Template(fixed_sid("HX", 5), "promo_winter", "en",
             "Winter sale: 20% off until {{1}}.",
             {"1": "Friday"}, "rejected"),
)
