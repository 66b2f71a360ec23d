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


@dataclass(frozen=True)
class Customer:
    address: str  # E.164, no channel prefix
    name: str
    whatsapp_window_open: bool  # whether they wrote to our WhatsApp sender in the last 24 hours


CUSTOMERS = (
    Customer("+14155550100", "Jane Doe", True),
    Customer("+14155550101", "Omar Haddad", False),
    Customer("+14155550102", "Mei Tanaka", True),
)


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
