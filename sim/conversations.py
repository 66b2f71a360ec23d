"""Conversations v1, the domain: conversations with their states and timers, participants and the
one-conversation-per-binding rule, messages (handed to sim/delivery.py) and scoped webhooks.

The resources are in sim/conversations_models.py, what Twilio refuses in sim/conversations_rules.py,
and the HTTP side (parameters in, JSON out) in sim/conversations_api.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from sim.conversations_models import Conversation, Message, Participant, Timers, Webhook, conversation_path
from sim.conversations_rules import (
    MAX_WEBHOOKS,
    binding_channel,
    check_attributes,
    check_body,
    check_conversation,
    check_open,
    check_sid,
    check_webhook,
    is_e164,
)
from sim.delivery import Delivery
from sim import seed
from sim.wire import TwilioError, iso, not_found

if TYPE_CHECKING:
    from sim.world import World


class ConversationsDomain:
    def __init__(self, world: World) -> None:
        self.world = world
        # the account's /v1/Configuration/Webhooks: post-event webhooks go to post_webhook_url, for these filters
        self.webhooks: dict[str, Any] = {"method": "POST", "filters": [], "pre_webhook_url": None,
                                         "post_webhook_url": None, "target": "webhook"}
        self.conversations: dict[str, Conversation] = {}  # by SID, in creation order
        self.delivery = Delivery(world)

    # -- conversations -------------------------------------------------------------------------

    def conversation(self, sid_or_unique_name: str) -> Conversation:
        found = self.conversations.get(sid_or_unique_name) or next(
            (c for c in self.conversations.values() if c.unique_name == sid_or_unique_name), None
        )
        if found is None:
            raise not_found(conversation_path(sid_or_unique_name))
        return found

    def create_conversation(self, *, friendly_name: str | None = None, unique_name: str | None = None,
                            attributes: str = "{}", state: str = "active", messaging_service_sid: str | None = None,
                            timers_inactive: float | None = None, timers_closed: float | None = None,
                            bindings: dict[str, Any] | None = None, date_created: float | None = None,
                            date_updated: float | None = None,
                            participants: Sequence[dict[str, Any]] = ()) -> Conversation:
        """With `participants` (ConversationWithParticipants): all or nothing; a taken binding is 50425,
        naming its conversation."""
        self._check_conversation(unique_name, attributes, state, messaging_service_sid, timers_inactive, timers_closed)
        now = self.world.now()
        conversation = Conversation(
            sid=self.world.sid("CH"),
            unique_name=unique_name,
            friendly_name=friendly_name,
            attributes=attributes,
            state=state,
            date_created=date_created if date_created is not None else now,
            date_updated=date_updated if date_updated is not None else now,
            messaging_service_sid=messaging_service_sid,
            timers=Timers(inactive_after=timers_inactive or None, closed_after=timers_closed or None),
            bindings=bindings or {},
        )
        for fields in participants:
            try:
                self._join(conversation, **fields)
            except TwilioError as error:
                if error.code != 50416:
                    raise
                holder = self.active_conversation_for(fields.get("address") or "", fields.get("proxy_address") or "")
                raise TwilioError(
                    409, 50425,
                    f"One or more participants already have a binding with this proxy address in "
                    f"Conversation {holder.sid if holder else ''}",
                ) from None
        self.conversations[conversation.sid] = conversation
        self._arm_timers(conversation)
        return conversation

    def update_conversation(self, sid: str, *, friendly_name: str | None = None, unique_name: str | None = None,
                            attributes: str | None = None, state: str | None = None,
                            messaging_service_sid: str | None = None, timers_inactive: float | None = None,
                            timers_closed: float | None = None, bindings: dict[str, Any] | None = None,
                            date_created: float | None = None, date_updated: float | None = None) -> Conversation:
        conversation = self.conversation(sid)
        check_open(conversation)
        self._check_conversation(unique_name, attributes, state, messaging_service_sid, timers_inactive,
                                 timers_closed, other_than=conversation)
        if timers_inactive is not None:
            conversation.timers.inactive_after = timers_inactive or None
        if timers_closed is not None:
            conversation.timers.closed_after = timers_closed or None
        self._update(conversation, date_updated, friendly_name=friendly_name, unique_name=unique_name,
                     attributes=attributes, messaging_service_sid=messaging_service_sid, bindings=bindings,
                     date_created=date_created)
        if state == "closed":
            self._close(conversation)
        elif state is not None or timers_inactive is not None or timers_closed is not None:
            self._set_state(conversation, state or conversation.state)
            self._arm_timers(conversation)
        return conversation

    def delete_conversation(self, sid: str) -> None:
        del self.conversations[self.conversation(sid).sid]

    def close(self, conversation_sid: str) -> None:
        """State closed (final); its bindings are free for a new conversation."""
        conversation = self.conversation(conversation_sid)
        if conversation.state != "closed":
            self._close(conversation)

    def active_conversation_for(self, address: str, proxy_address: str | None) -> Conversation | None:
        """The non-closed conversation that holds this (address, proxy address) binding, if any."""
        return next(
            (c for c in self.conversations.values() if c.state != "closed" and c.holds(address, proxy_address)),
            None,
        )

    def participations(self, *, address: str | None = None,
                       identity: str | None = None) -> list[tuple[Conversation, Participant]]:
        """Every (conversation, participant) for this address or identity, closed conversations included."""
        return [
            (conversation, participant)
            for conversation in self.conversations.values()
            for participant in conversation.participants.values()
            if (address is not None and participant.address == address)
            or (identity is not None and participant.identity == identity)
        ]

    def _check_conversation(self, unique_name: str | None, attributes: str | None, state: str | None,
                            messaging_service_sid: str | None, timers_inactive: float | None,
                            timers_closed: float | None, other_than: Conversation | None = None) -> None:
        if unique_name is not None and any(
            c.unique_name == unique_name and c is not other_than for c in self.conversations.values()
        ):
            raise TwilioError(409, 50353, f"Conversation with provided unique name '{unique_name}' already exists")
        check_conversation(attributes, state, messaging_service_sid, timers_inactive, timers_closed)

    def _update(self, resource: Any, date_updated: float | None, **given: Any) -> None:
        """Set the values the request gave (None: left as it is); date_updated is the given time or now."""
        for name, value in given.items():
            if value is not None:
                setattr(resource, name, value)
        resource.date_updated = date_updated if date_updated is not None else self.world.now()

    def _close(self, conversation: Conversation) -> None:
        self._set_state(conversation, "closed")

    def _set_state(self, conversation: Conversation, state: str, reason: str = "API") -> None:
        before = conversation.state
        conversation.state, conversation.date_updated = state, self.world.now()
        if state != before:
            self.post_event("onConversationStateUpdated", conversation.sid, StateFrom=before, StateTo=state,
                            Reason=reason)

    def post_event(self, event_type: str, conversation_sid: str, **params: object) -> None:
        """A post-event webhook to the account's PostWebhookUrl, when set and its Filters name this event."""
        url, filters = self.webhooks["post_webhook_url"], self.webhooks["filters"]
        if not url or event_type not in filters:
            return
        fields = {"EventType": event_type, "AccountSid": self.world.config.account_sid,
                  "ChatServiceSid": seed.CHAT_SERVICE_SID, "ConversationSid": conversation_sid, "Source": "API",
                  "RetryCount": "0", **{k: str(v) for k, v in params.items() if v is not None}}
        self.world.callbacks.emit(url, fields)

    def _arm_timers(self, conversation: Conversation) -> None:
        """(Re)start the timers from now: any activity pushes inactive/closed further away."""
        now, timers = self.world.now(), conversation.timers
        timers.date_inactive = timers.date_closed = None
        if timers.inactive_after and conversation.state == "active":
            timers.date_inactive = now + timers.inactive_after
            self.world.clock.call_later(timers.inactive_after, self._timer_due, conversation.sid)
        if timers.closed_after and conversation.state != "closed":
            timers.date_closed = now + timers.closed_after
            self.world.clock.call_later(timers.closed_after, self._timer_due, conversation.sid)

    def _timer_due(self, sid: str) -> None:
        conversation = self.conversations.get(sid)
        if conversation is None or conversation.state == "closed":
            return
        now, timers = self.world.now() + 1e-6, conversation.timers  # a timer pushed back by activity is stale
        if timers.date_closed is not None and now >= timers.date_closed:
            self._close(conversation)
        elif timers.date_inactive is not None and now >= timers.date_inactive and conversation.state == "active":
            self._set_state(conversation, "inactive", "TIMER")

    # -- participants --------------------------------------------------------------------------

    def participant(self, conversation: Conversation, sid_or_identity: str) -> Participant:
        found = conversation.participants.get(sid_or_identity) or next(
            (p for p in conversation.participants.values() if p.identity == sid_or_identity), None
        )
        if found is None:
            raise not_found(f"{conversation_path(conversation.sid)}/Participants/{sid_or_identity}")
        return found

    def add_participant(self, conversation_sid: str, **fields: Any) -> Participant:
        """`fields` as _join takes them: an SMS/WhatsApp binding (address, proxy_address) or a chat identity."""
        conversation = self.conversation(conversation_sid)
        participant = self._join(conversation, **fields)
        self._arm_timers(conversation)
        self.post_event("onParticipantAdded", conversation.sid, ParticipantSid=participant.sid,
                        Identity=participant.identity,
                        **{"MessagingBinding.Address": participant.address,
                           "MessagingBinding.ProxyAddress": participant.proxy_address})
        return participant

    def update_participant(self, conversation_sid: str, participant_sid: str, *, identity: str | None = None,
                           attributes: str | None = None, role_sid: str | None = None,
                           proxy_address: str | None = None, projected_address: str | None = None,
                           last_read_message_index: int | None = None, last_read_timestamp: str | None = None,
                           date_created: float | None = None, date_updated: float | None = None) -> Participant:
        conversation = self.conversation(conversation_sid)
        participant = self.participant(conversation, participant_sid)
        check_open(conversation)
        check_attributes(attributes)
        check_sid(role_sid, "RL", "RoleSid")
        if identity is not None and identity != participant.identity:
            if participant.identity is not None or participant.projected_address is None:
                raise TwilioError(400, 50444, "Failed to add an identity to a participant.")
        if proxy_address is not None and proxy_address != participant.proxy_address:
            if participant.channel is None:
                raise TwilioError(400, 50408, "Invalid participant proxy address")
            self._check_binding(conversation, participant.address or "", proxy_address)
        self._update(participant, date_updated, identity=identity, attributes=attributes, role_sid=role_sid,
                     proxy_address=proxy_address, projected_address=projected_address,
                     last_read_message_index=last_read_message_index, last_read_timestamp=last_read_timestamp,
                     date_created=date_created)
        return participant

    def remove_participant(self, conversation_sid: str, participant_sid: str) -> None:
        """Removing a participant frees its binding."""
        conversation = self.conversation(conversation_sid)
        del conversation.participants[self.participant(conversation, participant_sid).sid]

    def _join(self, conversation: Conversation, *, address: str | None = None, proxy_address: str | None = None,
              identity: str | None = None, attributes: str = "{}", projected_address: str | None = None,
              role_sid: str | None = None, date_created: float | None = None,
              date_updated: float | None = None) -> Participant:
        check_open(conversation)
        check_attributes(attributes)
        check_sid(role_sid, "RL", "RoleSid")
        channel: str | None = None
        if identity is not None and (address is not None or proxy_address is not None):
            raise TwilioError(400, 50211, "Identity parameter not acceptable for this Participant")
        if address is not None or proxy_address is not None:
            channel = self._check_binding(conversation, address or "", proxy_address)
        elif identity is None:
            raise TwilioError(400, 50204, "A participant needs an Identity or a MessagingBinding.Address")
        elif any(p.identity == identity for p in conversation.participants.values()):
            raise TwilioError(409, 50433, f"Participant with identity '{identity}' already exists in this conversation")
        elif projected_address is not None and not is_e164(projected_address):
            raise TwilioError(400, 50407, "Invalid messaging binding projected address")
        now = self.world.now()
        participant = Participant(
            sid=self.world.sid("MB"),
            conversation_sid=conversation.sid,
            identity=identity,
            address=address,
            proxy_address=proxy_address,
            channel=channel,
            attributes=attributes,
            projected_address=projected_address if channel is None else None,
            role_sid=role_sid,
            date_created=date_created if date_created is not None else now,
            date_updated=date_updated if date_updated is not None else now,
        )
        conversation.participants[participant.sid] = participant
        return participant

    def _check_binding(self, conversation: Conversation, address: str, proxy_address: str | None) -> str:
        """The binding's channel, or the error Twilio gives for it (50416 names the holding conversation)."""
        channel = binding_channel(address, proxy_address)
        if conversation.holds(address, proxy_address):
            raise TwilioError(409, 50437, "Participant already exists in this conversation")
        holder = self.active_conversation_for(address, proxy_address)
        if holder is not None:
            raise TwilioError(
                409, 50416, f"A binding for this participant and proxy address already exists in Conversation {holder.sid}"
            )
        return channel

    # -- messages ------------------------------------------------------------------------------

    def message(self, conversation: Conversation, sid: str) -> Message:
        found = next((m for m in conversation.messages if m.sid == sid), None)
        if found is None:
            raise not_found(f"{conversation_path(conversation.sid)}/Messages/{sid}")
        return found

    def add_message(self, conversation_sid: str, *, author: str = "system", body: str | None = None,
                    content_sid: str | None = None, content_variables: dict[str, str] | None = None,
                    attributes: str = "{}", media_sid: str | None = None, date_created: float | None = None,
                    date_updated: float | None = None) -> Message:
        """Store a message; a customer's goes to Studio, anyone else's is delivered to the SMS/WhatsApp side."""
        conversation = self.conversation(conversation_sid)
        check_open(conversation)
        check_attributes(attributes)
        template = None
        if content_sid is not None:  # the template wins over Body and MediaSid
            template = self.world.content.get(content_sid)
            if template is None:
                raise not_found(f"/v1/Content/{content_sid}")
            body, media_sid = template.body(content_variables or {}), None
        elif not body and media_sid is None:
            raise TwilioError(400, 50503, "Message body not provided")
        else:
            check_body(body)
            check_sid(media_sid, "ME", "MediaSid")
        now = self.world.now()
        author = author or "system"
        writer = conversation.author_participant(author)
        message = Message(
            sid=self.world.sid("IM"),
            conversation_sid=conversation.sid,
            index=conversation.next_index,
            author=author,
            body=body,
            content_sid=content_sid,
            participant_sid=writer.sid if writer else None,
            attributes=attributes,
            media_sid=media_sid,
            date_created=date_created if date_created is not None else now,
            date_updated=date_updated if date_updated is not None else now,
        )
        conversation.next_index += 1
        conversation.messages.append(message)
        if conversation.state == "inactive":  # a new message wakes an inactive conversation
            self._set_state(conversation, "active")
        self._arm_timers(conversation)
        self.post_event("onMessageAdded", conversation.sid, MessageSid=message.sid, Index=message.index,
                        Author=author, Body=body, Attributes=attributes, ParticipantSid=message.participant_sid,
                        DateCreated=iso(message.date_created))
        if writer is not None and writer.channel is not None:
            self.world.customers.on_inbound(message, writer)
            self.world.studio.on_customer_message(conversation, message)
        else:
            recipients = [p for p in conversation.participants.values() if p.channel is not None]
            if recipients:
                self.delivery.send(message, recipients, template)
        return message

    def update_message(self, conversation_sid: str, message_sid: str, *, author: str | None = None,
                       body: str | None = None, attributes: str | None = None,
                       date_created: float | None = None, date_updated: float | None = None) -> Message:
        conversation = self.conversation(conversation_sid)
        message = self.message(conversation, message_sid)
        check_open(conversation)
        check_body(body)
        check_attributes(attributes)
        if author is not None:
            writer = conversation.author_participant(author)
            message.author, message.participant_sid = author, writer.sid if writer else None
        self._update(message, date_updated, attributes=attributes, body=body, date_created=date_created)
        return message

    def delete_message(self, conversation_sid: str, message_sid: str) -> None:
        conversation = self.conversation(conversation_sid)
        conversation.messages.remove(self.message(conversation, message_sid))

    # -- conversation-scoped webhooks ----------------------------------------------------------

    def webhook(self, conversation: Conversation, sid: str) -> Webhook:
        found = conversation.webhooks.get(sid)
        if found is None:
            raise not_found(f"{conversation_path(conversation.sid)}/Webhooks/{sid}")
        return found

    def add_webhook(self, conversation_sid: str, *, target: str | None, configuration: dict[str, Any]) -> Webhook:
        conversation = self.conversation(conversation_sid)
        check_open(conversation)
        if len(conversation.webhooks) >= MAX_WEBHOOKS:
            raise TwilioError(400, 50361, "Too many conversation webhooks: a conversation can have at most 5")
        check_webhook(target, configuration)
        assert target is not None
        now = self.world.now()
        webhook = Webhook(self.world.sid("WH"), conversation.sid, target, dict(configuration), now, now)
        conversation.webhooks[webhook.sid] = webhook
        return webhook

    def update_webhook(self, conversation_sid: str, webhook_sid: str, configuration: dict[str, Any]) -> Webhook:
        conversation = self.conversation(conversation_sid)
        webhook = self.webhook(conversation, webhook_sid)
        check_open(conversation)
        merged = {**webhook.configuration, **configuration}
        check_webhook(webhook.target, merged)
        webhook.configuration, webhook.date_updated = merged, self.world.now()
        return webhook

    def delete_webhook(self, conversation_sid: str, webhook_sid: str) -> None:
        conversation = self.conversation(conversation_sid)
        del conversation.webhooks[self.webhook(conversation, webhook_sid).sid]
