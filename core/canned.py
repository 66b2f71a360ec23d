"""Canned messages from settings, with `{customer_name}`-style placeholders.

The panel fills in what it knows (the agent's name, the customer's number); what it cannot know (the
customer's name: there is no CRM) stays in the text as `{customer_name}` for the agent to replace, and
prepare_send refuses a message that still holds one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

# `{name}`, but not the `{{name}}` of a content template: that text is the customer's to read as written
PLACEHOLDER = re.compile(r"(?<!\{)\{([a-z_][a-z0-9_]*)\}(?!\})")


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replaces each placeholder that has a non-blank value; the others stay for the agent to replace."""

    def value(match: re.Match[str]) -> str:
        given = values.get(match.group(1))
        return given if given and given.strip() else match.group(0)

    return PLACEHOLDER.sub(value, text)


def unfilled(text: str) -> list[str]:
    """The placeholder names still in the text, in order, each once."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def placeholder_values(agent_full_name: str, customer_number_display: str | None) -> dict[str, str]:
    """What the panel can fill in; `customer_name` is never known, so it is left for the agent."""
    name = agent_full_name.strip()
    return {
        "agent_name": name,
        "agent_first_name": name.split()[0] if name else "",
        "customer_number": customer_number_display or "",
    }


def spoken_list(items: Sequence[str]) -> str:
    """["a", "b", "c"] → "a, b and c", for sentences that name several things."""
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)
