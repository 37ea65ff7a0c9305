"""The outbound webhook channel: signed JSON POSTs per the Standard Webhooks scheme.

Contract with delivery (what `send` reads from an OutboundMessage):

- `address` is the endpoint URL (http or https).
- `idempotency_key` becomes `webhook-id`, stable across retries so receivers can dedupe.
- `payload` follows the shared notification schema (`event_type`, `timestamp`, `data` are
  used for the body, DESIGN.md §9) plus `payload["webhook_endpoint_id"]`: the
  notification row's `webhook_endpoint_id`, which delivery copies into the payload (and
  `hdtickets webhooks test` writes there). The channel passes it to its secret resolver,
  `async (endpoint_id) -> list[str]` (plaintext `whsec_` secrets, newest first; see
  `adapters.webhook.secrets.EndpointSecrets`), and signs with every one of them.

Requests never follow redirects. Each one first waits for a free pooled connection
(`adapters.webhook.pool`: at most 10 to one host), then runs under its timeout (10 s by
default), which covers connecting, sending and the answer but never that wait. A 2xx is
success as soon as its status arrives: its body is not read (a slow or cut-off body
changes nothing); of a failure's body the first bytes are read, briefly, for the reason.
Every connection goes through the SSRF guard (`adapters.webhook.ssrf`): the channel builds
its own `GuardedConnector` session, or accepts a caller's session only if it was built on
one. Outcomes are mapped in `adapters.webhook.errors`; 410 raises RecipientGone, after
which delivery disables the endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
from yarl import URL

from adapters.webhook.errors import error_for_exception, error_for_status
from adapters.webhook.pool import ConnectionSlots
from adapters.webhook.render import render_body, render_headers
from adapters.webhook.ssrf import (
    CONNECTIONS,
    CONNECTIONS_PER_HOST,
    BlockedAddressError,
    GuardedConnector,
    SsrfPolicy,
)
from core.clock import SystemClock
from core.domain import Capability, ChannelKind, DeliveryReceipt, OutboundMessage
from core.errors import PermanentDeliveryError, RetryableDeliveryError
from core.ports import Clock

logger = logging.getLogger(__name__)

SecretResolver = Callable[[int], Awaitable[Sequence[str]]]
DEFAULT_TIMEOUT_S = 10.0
_REASON_BYTES = 512
_REASON_WAIT_S = 1.0  # the most a failure's body may add to its request's timeout


def make_session(policy: SsrfPolicy) -> aiohttp.ClientSession:
    """Build a ClientSession whose connector enforces `policy` (call inside the event loop)."""
    return aiohttp.ClientSession(connector=GuardedConnector(policy), trust_env=False)


class WebhookChannel:
    """Delivers notifications to webhook endpoints. Capabilities: none (no buttons, edits)."""

    name = "webhook"
    capabilities = Capability.NONE

    def __init__(
        self,
        resolve_secrets: SecretResolver,
        policy: SsrfPolicy,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Clock | None = None,
        public_url: str | None = None,
    ) -> None:
        """Create the channel.

        Args:
            resolve_secrets: endpoint id -> its active plaintext secrets, newest first;
                may raise RecipientGone or PermanentDeliveryError itself.
            policy: which non-public destinations are allowed (HDT_WEBHOOK_ALLOW_HOSTS).
            session: a session built with `make_session` (the caller closes it); when
                None the channel builds its own on first use and closes it in `close`.
            timeout_s: total time for one request, from connecting to the answer's
                status line and head; neither the wait for a free connection nor a
                failure's body (read for at most a second more) is counted.
            clock: source of `webhook-timestamp`; the system clock when None.
            public_url: where this deployment's API is reached (HDT_PUBLIC_URL): the
                `data.links` of an event whose payload has none (`render_body`).

        Raises:
            ValueError: `session` does not use a GuardedConnector, so the SSRF guard
                could be bypassed.
        """
        if session is not None and not isinstance(session.connector, GuardedConnector):
            raise ValueError(
                "WebhookChannel needs a session from adapters.webhook.channel.make_session "
                "(GuardedConnector); pass none to let the channel build its own"
            )
        self._resolve_secrets = resolve_secrets
        self._policy = policy
        self._session = session
        self._owns_session = session is None
        # The deadline is `asyncio.timeout` around each request, started once its
        # connection is free; aiohttp's own `total` would also count the pool wait.
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout_s, sock_read=timeout_s
        )
        self._timeout_s = timeout_s
        connector = session.connector if session is not None else None
        if isinstance(connector, GuardedConnector):  # the pool's own limits
            self._slots = ConnectionSlots(connector.limit, connector.limit_per_host)
        else:  # those of the session `make_session` will build
            self._slots = ConnectionSlots(CONNECTIONS, CONNECTIONS_PER_HOST)
        self._clock = clock if clock is not None else SystemClock()
        self._public_url = public_url

    async def run(self) -> None:
        """Nothing to serve: wait until cancelled, then close an owned session."""
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the session if the channel built it."""
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is not None and not self._session.closed:
            return self._session
        if not self._owns_session:
            raise RetryableDeliveryError("webhook HTTP session is closed (shutting down?)")
        self._session = make_session(self._policy)
        return self._session

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """POST the signed payload to `message.address` once; map the answer to an error.

        Raises:
            RetryableDeliveryError: 429/503 (with Retry-After), other 5xx, timeout,
                connection failure.
            RecipientGone: 410 Gone, or the endpoint no longer exists.
            PermanentDeliveryError: other 4xx, a redirect, a blocked or invalid URL, a
                disabled endpoint, a payload or endpoint without what signing needs.
        """
        try:
            url = URL(message.address)
            host = url.host or "?"  # a bad punycode name ("xn--") fails here
        except (TypeError, ValueError) as exc:
            raise PermanentDeliveryError("webhook URL is not a valid URL") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise PermanentDeliveryError("webhook URL must look like https://host/path")
        try:
            self._policy.check_url(url)
        except BlockedAddressError as exc:
            raise PermanentDeliveryError(str(exc)) from exc
        endpoint_id = message.payload.get("webhook_endpoint_id")
        if not isinstance(endpoint_id, int) or isinstance(endpoint_id, bool):
            raise PermanentDeliveryError(
                f"notification {message.notification_id} has no webhook_endpoint_id to sign with"
            )
        secrets = await self._resolve_secrets(endpoint_id)
        try:
            body = render_body(message.payload, self._public_url)
        except ValueError as exc:
            raise PermanentDeliveryError(f"webhook endpoint {endpoint_id}: {exc}") from exc
        async with self._slots.hold(url):
            # Signed once a connection is free, so the timestamp is that of the request.
            timestamp = int(self._clock.now().timestamp())
            try:
                headers = render_headers(message.idempotency_key, timestamp, body, secrets)
            except ValueError as exc:
                raise PermanentDeliveryError(f"webhook endpoint {endpoint_id}: {exc}") from exc
            try:
                async with (
                    asyncio.timeout(self._timeout_s) as deadline,
                    self._client().post(
                        url,
                        data=body,
                        headers=headers,
                        allow_redirects=False,
                        timeout=self._timeout,
                    ) as response,
                ):
                    status = response.status
                    deadline.reschedule(None)  # the status decides; a reason has its own wait
                    said = "" if 200 <= status < 300 else await _reason(response)
                    error = error_for_status(
                        status, response.headers, said, host, self._clock.now()
                    )
            except (aiohttp.ClientError, TimeoutError, BlockedAddressError) as exc:
                raise error_for_exception(exc, host, self._timeout_s) from exc
        if error is not None:
            logger.info(
                "webhook not delivered notification_id=%s endpoint_id=%s host=%s status=%s",
                message.notification_id,
                endpoint_id,
                host,
                status,
            )
            raise error
        logger.debug(
            "webhook delivered notification_id=%s endpoint_id=%s host=%s status=%s",
            message.notification_id,
            endpoint_id,
            host,
            status,
        )
        return DeliveryReceipt(
            channel=ChannelKind.WEBHOOK,
            address=message.address,
            message_id=message.idempotency_key,
            detail=f"HTTP {status}",
        )


async def _reason(response: aiohttp.ClientResponse) -> str:
    """The start of a failure's body for its error message; "" when it is slow or cut off
    (the status alone decides what happens next)."""
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with asyncio.timeout(_REASON_WAIT_S):
            head = await response.content.read(_REASON_BYTES)
        return head.decode("utf-8", "replace")
    return ""
