"""Who may use `kam serve`: the holder of the token it printed, nobody else.

Loaded by the Voilà server process only (``--Voila.identity_provider_class``), never by a kernel. Jupyter
server's own token check does the work (``?token=`` in the URL or an ``Authorization: token`` header, then
its signed login cookie for the rest of the visit); this provider only changes what an unauthenticated
request gets: 403 instead of a redirect to a login form (the token is in the URL `kam serve` prints).

XSRF checks stay on. Voilà 0.5.13's page, when it closes, posts ``/voila/api/shutdown/<kernel>`` with the
value of the ``_xsrf`` cookie as its ``_xsrf`` field; Jupyter's own pages set that cookie, Voilà's notebook
pages do not. So every page this provider admits gets the cookie too (tornado's ``xsrf_token``), and a closed
page's kernel is shut down at once while a POST from another site, which cannot read the cookie, gets 403.
"""

from __future__ import annotations

from collections.abc import Awaitable

from jupyter_server.auth.identity import User
from tornado import web, websocket
from voila.voila_identity_provider import VoilaIdentityProvider


class TokenOnlyIdentityProvider(VoilaIdentityProvider):
    """Token or login cookie → the user; anything else → HTTP 403 (no login page to guess tokens at)."""

    async def get_user(self, handler: web.RequestHandler) -> User:
        user = super().get_user(handler)
        if isinstance(user, Awaitable):
            user = await user
        if user is None:
            raise web.HTTPError(403, "open the URL that `kam serve` printed: it carries the access token")
        if handler.request.method == "GET" and not isinstance(handler, websocket.WebSocketHandler):
            handler.current_user = user  # what Jupyter's prepare() sets next; tornado's xsrf_token reads it
            handler.xsrf_token  # noqa: B018 - sets the _xsrf cookie when the browser has none
        return user

    def get_handlers(self) -> list:
        """No /login and /logout pages: the token comes in the URL."""
        return []
