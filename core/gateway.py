"""The Twilio gateway: typed calls for the service and the watcher. With core/twilio_client.py and
core/twilio_errors.py, the only code that imports `twilio`.

Every call has a deadline (the SDK ignores its own timeout) and every failure becomes a typed
domain error from core.errors. The SDK's retry is never enabled: it re-sends POST creates on 5xx.
"""

import asyncio
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from twilio.base import values
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from core.errors import NotFound, RateLimited, TwilioError, TwilioUnavailable
from core.identity import decode_identity
from core.models import json_object
from core.settings import Settings
from core.templates import ContentTemplate
from core.twilio_errors import domain_error
from core.views import (Activity, AgentInfo, CreatedInteraction, Holder, LiveTask, MessageView, Participation,
                        ReceiptView, TaskView)

T = TypeVar("T")
SEND_ID = "outboundSendId"  # message attribute that marks which send posted it
_LIVE_TASK_STATUSES = ["pending", "reserved", "assigned", "wrapping"]


class TwilioGateway:
    """Typed Twilio calls for the outbound service. Plain dicts stay in here."""

    def __init__(self, client: Client, settings: Settings, deadline: float = 10.0) -> None:
        self.client = client
        self.settings = settings
        self.deadline = deadline
        self._conversations = client.conversations.v1
        self._workspace = client.taskrouter.v1.workspaces(settings.flex.workspace_sid)
        self._agent_worker_sid: str | None = None  # known once fetch_agent has found the worker

    async def call(self, what: str, call: Awaitable[T]) -> T:
        """Awaits one SDK call within the deadline; every failure becomes a typed error naming `what`."""
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel that lands as the call
            # ends, and a watcher stopped at exit then polls on forever (the process never ends)
            async with asyncio.timeout(self.deadline):
                return await call
        except TimeoutError:
            raise TwilioUnavailable(f"Twilio did not answer in time while {what}.", timed_out=True) from None
        except (aiohttp.ClientError, OSError) as error:
            raise TwilioUnavailable(f"Could not reach Twilio while {what}.") from error
        except TwilioException as error:
            mapped = domain_error(error, what)
            take = getattr(self.client.http_client, "take_retry_after", None)  # RewritingHttpClient's notes
            if isinstance(mapped, RateLimited) and mapped.retry_after is None and take is not None:
                mapped.retry_after = take(getattr(error, "method", ""), getattr(error, "uri", ""))
            raise mapped from None

    # -- agent -------------------------------------------------------------------------------------

    async def fetch_agent(self) -> AgentInfo:
        """The configured agent's worker: by SID when set, else by friendly name (the agent identity)."""
        agent = self.settings.agent
        worker = await self._worker("looking up the agent", sid=agent.worker_sid, friendly_name=agent.identity)
        if worker is None:
            raise NotFound(f"No TaskRouter worker is named {agent.identity!r} in this workspace.")
        self._agent_worker_sid = worker.sid
        return _agent_info(worker)

    async def activities(self) -> list[Activity]:
        """The workspace's TaskRouter activities, in Twilio's order."""
        found = await self.call("listing the agent activities", self._workspace.activities.list_async())
        return [Activity(sid=a.sid, name=a.friendly_name, available=bool(a.available)) for a in found]

    async def set_agent_activity(self, activity_sid: str) -> AgentInfo:
        """Moves the agent's worker to this activity; returns the worker as Twilio now has it."""
        worker_sid = self._agent_worker_sid or self.settings.agent.worker_sid
        if worker_sid is None:
            worker_sid = (await self.fetch_agent()).sid
        worker = await self.call("changing the agent's activity",
                                 self._workspace.workers(worker_sid).update_async(activity_sid=activity_sid))
        return _agent_info(worker)

    async def worker_name(self, *, friendly_name: str | None = None, sid: str | None = None) -> str | None:
        """A worker's full name (Flex's `full_name` attribute), else its friendly name; None when unknown."""
        try:
            worker = await self._worker("looking up an agent", sid=sid, friendly_name=friendly_name)
        except NotFound:
            return None
        return _full_name(worker) if worker is not None else None

    async def _worker(self, what: str, *, sid: str | None, friendly_name: str | None) -> Any | None:
        """The worker with this SID when one is given (NotFound if none), else the one with this friendly name."""
        if sid:
            return await self.call(what, self._workspace.workers(sid).fetch_async())
        found = await self.call(what, self._workspace.workers.list_async(friendly_name=friendly_name, limit=1))
        return found[0] if found else None

    # -- conversations -----------------------------------------------------------------------------

    async def create_conversation(self, address: str, proxy_address: str, attributes: dict[str, Any]) -> str:
        """One round trip: the conversation, its customer participant and its attributes."""
        participant = json.dumps({"messaging_binding": {"address": address, "proxy_address": proxy_address}})
        conversation = await self.call(
            "creating the conversation",
            self._conversations.conversation_with_participants.create_async(
                attributes=json.dumps(attributes), participant=[participant]
            ),
        )
        return conversation.sid

    async def find_conversation(self, address: str, proxy_address: str) -> str | None:
        """The open conversation that holds this customer/sender pair, if any."""
        return next((p.conversation_sid for p in await self.participations(address)
                     if p.proxy_address == proxy_address and p.state != "closed"), None)

    async def participations(self, address: str) -> list[Participation]:
        """Every conversation of this address, closed ones too, with its sender (ParticipantConversations)."""
        found = await self.call("looking for the customer's conversation",
                                self._conversations.participant_conversations.list_async(address=address, page_size=50))
        return [Participation(conversation_sid=r.conversation_sid, state=str(r.conversation_state or ""),
                              date_created=r.conversation_date_created, date_updated=r.conversation_date_updated,
                              proxy_address=(r.participant_messaging_binding or {}).get("proxy_address"))
                for r in found]

    async def set_attributes(self, conversation_sid: str, attributes: dict[str, Any]) -> None:
        await self.call("updating the conversation's routing",
                        self._conversations.conversations(conversation_sid).update_async(
                             attributes=json.dumps(attributes)))

    async def conversation_attributes(self, conversation_sid: str) -> dict[str, Any]:
        conversation = await self.call("reading the conversation",
                                       self._conversations.conversations(conversation_sid).fetch_async())
        return json_object(conversation.attributes)

    async def agent_identities(self, conversation_sid: str) -> list[str]:
        """Chat identities (agents) in the conversation, decoded to worker friendly names."""
        participants = await self.call("reading the conversation's participants",
                                       self._conversations.conversations(conversation_sid).participants.list_async())
        return [decode_identity(p.identity) for p in participants if p.identity]

    async def has_studio_webhook(self, conversation_sid: str) -> bool:
        webhooks = await self.call("reading the conversation's webhooks",
                                   self._conversations.conversations(conversation_sid).webhooks.list_async())
        return any(w.target == "studio" for w in webhooks)

    async def add_studio_webhook(self, conversation_sid: str) -> None:
        """The reply route of the wait modes: the customer's reply starts the inbound Studio flow."""
        await self.call("adding the reply route",
                        self._conversations.conversations(conversation_sid).webhooks.create_async(
                             target="studio", configuration_flow_sid=self.settings.flex.inbound_studio_flow_sid))

    async def send_message(self, conversation_sid: str, author: str, body: str | None,
                           content_sid: str | None, content_variables: dict[str, str], send_id: str) -> str:
        """Posts the message once. `send_id` goes into its attributes so find_message can tell whether an
        unanswered post landed."""
        messages = self._conversations.conversations(conversation_sid).messages
        attributes = json.dumps({SEND_ID: send_id})
        if content_sid:
            variables = json.dumps(content_variables) if content_variables else values.unset
            call = messages.create_async(author=author, content_sid=content_sid, content_variables=variables,
                                         attributes=attributes)
        else:
            call = messages.create_async(author=author, body=body, attributes=attributes)
        message = await self.call("sending the message", call)
        return message.sid

    async def find_message(self, conversation_sid: str, send_id: str) -> str | None:
        """The SID of the message posted with this send_id, if it landed."""
        messages = await self.call("checking whether the message was sent",
                                   self._conversations.conversations(conversation_sid).messages.list_async(
                                        order="desc", page_size=50, limit=50))
        return next((m.sid for m in messages if json_object(m.attributes).get(SEND_ID) == send_id), None)

    async def message_sids(self, conversation_sid: str) -> list[str]:
        messages = await self.call("checking the conversation's messages",
                                   self._conversations.conversations(conversation_sid).messages.list_async(
                                        order="desc", page_size=20, limit=20))
        return [m.sid for m in messages]

    async def delete_conversation(self, conversation_sid: str) -> None:
        await self.call("removing the unused conversation",
                        self._conversations.conversations(conversation_sid).delete_async())

    async def content_templates(self) -> list[ContentTemplate]:
        """Every content template of the account with its WhatsApp approval (one ContentAndApprovals request)."""
        found = await self.call("listing the content templates",
                                self.client.content.v1.content_and_approvals.list_async(page_size=1000))
        return [ContentTemplate.from_twilio(sid=r.sid, friendly_name=r.friendly_name, language=r.language,
                                            variables=r.variables, types=r.types, approval_requests=r.approval_requests)
                for r in found]

    # -- flex and taskrouter -----------------------------------------------------------------------

    async def create_interaction(self, channel: dict[str, Any], routing_properties: dict[str, Any]) -> CreatedInteraction:
        interaction = await self.call(
            "opening the chat task",
            self.client.flex_api.v1.interaction.create_async(
                channel=channel, routing={"properties": routing_properties}
            ),
        )
        task = interaction.routing["properties"]
        return CreatedInteraction(
            interaction_sid=interaction.sid,
            channel_sid=interaction.channel["sid"],
            conversation_sid=json_object(task["attributes"])["conversationSid"],
            task_sid=task["sid"],
        )

    async def close_interaction(self, created: CreatedInteraction) -> None:
        """Closes the chat: Flex closes its conversation and ends its task."""
        await self.call("closing the chat task",
                        self.client.flex_api.v1.interaction(created.interaction_sid)
                        .channels(created.channel_sid).update_async(status="closed", routing={"status": "closed"}))

    async def cancel_task(self, task_sid: str) -> None:
        await self.call("cancelling the chat task",
                        self._workspace.tasks(task_sid).update_async(
                             assignment_status="canceled", reason="outbound message could not be sent"))

    async def live_tasks(self, conversation_sid: str) -> list[LiveTask]:
        tasks = await self.call("looking for the conversation's task",
                                self._workspace.tasks.list_async(
                                     evaluate_task_attributes=f'conversationSid == "{conversation_sid}"',
                                     assignment_status=_LIVE_TASK_STATUSES))
        return [LiveTask(sid=t.sid, assignment_status=t.assignment_status, attributes=json_object(t.attributes))
                for t in tasks]

    async def task_worker_sid(self, task_sid: str) -> str | None:
        """The worker a task is reserved or assigned to, if any."""
        reservations = await self.call("looking up who holds the task",
                                       self._workspace.tasks(task_sid).reservations.list_async())
        held = [r for r in reservations if r.reservation_status in ("pending", "accepted", "wrapping")]
        return held[0].worker_sid if held else None

    # -- status watcher: list calls that cover a conversation, or many conversations, at once ----------

    async def recent_messages(self, conversation_sid: str, page_size: int = 20) -> list[MessageView]:
        """The conversation's newest messages (one request, newest first) with their delivery summaries."""
        page = await self.call("reading the conversation's messages",
                               self._conversations.conversations(conversation_sid).messages.page_async(
                                    order="desc", page_size=page_size))
        return [MessageView(sid=m.sid, index=int(m.index or 0), author=m.author or "", body=m.body,
                            delivery=m.delivery if isinstance(m.delivery, dict) else None,
                            date_created=m.date_created) for m in page]

    async def receipts(self, conversation_sid: str, message_sid: str) -> list[ReceiptView]:
        """The message's delivery receipts (one per SMS/WhatsApp recipient), with Twilio's error codes."""
        found = await self.call("reading the message's delivery receipts",
                                self._conversations.conversations(conversation_sid).messages(message_sid)
                                .delivery_receipts.list_async(page_size=50))
        return [ReceiptView(status=str(r.status or ""), error_code=r.error_code or None) for r in found]

    async def conversation_state(self, conversation_sid: str) -> str:
        """active, inactive or closed."""
        conversation = await self.call("reading the conversation",
                                       self._conversations.conversations(conversation_sid).fetch_async())
        return str(conversation.state or "")

    async def tasks_for_conversations(self, conversation_sids: list[str]) -> list[TaskView]:
        """Every task (any status) of these conversations: one TaskRouter list request for all of them."""
        if not conversation_sids:
            return []
        expression = "conversationSid IN [" + ", ".join(json.dumps(s) for s in conversation_sids) + "]"
        found = await self.call("reading the conversations' tasks",
                                self._workspace.tasks.list_async(evaluate_task_attributes=expression,
                                                                  page_size=1000))
        return [TaskView(sid=t.sid, conversation_sid=json_object(t.attributes).get("conversationSid"),
                         assignment_status=str(t.assignment_status or ""), date_created=t.date_created,
                         date_updated=t.date_updated) for t in found]

    async def offered_task_sids(self) -> list[str]:
        """The tasks offered to the agent now (their worker's pending reservations): a reply routed to them is found
        here, without the task list TaskRouter limits."""
        if self._agent_worker_sid is None:
            return []
        found = await self.call("reading the tasks offered to you",
                                self._workspace.workers(self._agent_worker_sid).reservations.list_async(
                                    reservation_status="pending"))
        return [r.task_sid for r in found]

    async def task(self, task_sid: str) -> TaskView:
        """One task by its SID (not the task list, which TaskRouter limits to 3 requests a second per account)."""
        t = await self.call("reading the task", self._workspace.tasks(task_sid).fetch_async())
        return TaskView(sid=t.sid, conversation_sid=json_object(t.attributes).get("conversationSid"),
                        assignment_status=str(t.assignment_status or ""), date_created=t.date_created,
                        date_updated=t.date_updated)

    async def task_holder(self, task_sid: str) -> Holder | None:
        """The worker holding the task's live reservation (pending, accepted or wrapping), if any."""
        reservations = await self.call("looking up who holds the task",
                                       self._workspace.tasks(task_sid).reservations.list_async())
        held = [r for r in reservations if r.reservation_status in ("pending", "accepted", "wrapping")]
        if not held:
            return None
        return Holder(worker_sid=held[-1].worker_sid, worker_name=held[-1].worker_name or held[-1].worker_sid,
                      reservation_sid=held[-1].sid)

    async def answer_reservation(self, task_sid: str, reservation_sid: str, accept: bool) -> None:
        """Accepts or rejects the task's reservation offered to the agent (TaskRouter reservation update)."""
        verb = "accepting" if accept else "rejecting"
        reservation = self._workspace.tasks(task_sid).reservations(reservation_sid)
        try:
            await self.call(f"{verb} the task",
                            reservation.update_async(reservation_status="accepted" if accept else "rejected"))
        except TwilioError as error:
            if error.status != 400:
                raise
            status = (await self.call("reading the task's reservation", reservation.fetch_async())).reservation_status
            raise TwilioError(f"The task is no longer offered to you: its reservation is {status}.",
                              code=error.code, status=error.status) from None


def _agent_info(worker: Any) -> AgentInfo:
    return AgentInfo(
        sid=worker.sid,
        friendly_name=worker.friendly_name,
        full_name=_full_name(worker),
        activity_name=worker.activity_name,
        available=bool(worker.available),
    )


def _full_name(worker: Any) -> str:
    """Flex's `full_name` worker attribute, else the friendly name."""
    return json_object(worker.attributes).get("full_name") or worker.friendly_name
