"""Logging in and out, the session cookie, CSRF tokens and `require_user`, the guard every back-office page calls."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from aiohttp import web
from yarl import URL

from federation import appkeys
from federation.web.context import ANONYMOUS_CSRF, SESSION, WEB
from federation.web.i18n_request import translate
from federation.web.throttle import LOGIN_GUARD, Throttled
from federation.web.users import NODE_ROLES, WebUser, authenticate, close_session, load_session, open_session

SESSION_COOKIE = "regies_session"
CSRF_COOKIE = "regies_csrf"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_NEXT_LENGTH = 2000
MAX_PASSWORD_LENGTH = 1000  # argon2 hashes any length, but nobody types more; a bigger body is not a password


@dataclass(frozen=True)
class Session:
    user: WebUser
    csrf_token: str
    session_id: str


async def current_session(request: web.Request) -> Session | None:
    """The visitor's live session (looked up once per request), or None."""
    if SESSION not in request:
        session = None
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            found = await load_session(request.config_dict[appkeys.ENGINE], session_id)
            if found is not None:
                session = Session(found[0], found[1], session_id)
        request[SESSION] = session
    result = request[SESSION]
    return result if isinstance(result, Session) else None


async def current_user(request: web.Request) -> WebUser | None:
    session = await current_session(request)
    return session.user if session else None


async def csrf_token(request: web.Request) -> str:
    """The token forms must send back in their `_csrf` field: the session's, or a per-browser one before login."""
    session = await current_session(request)
    if session is not None:
        return session.csrf_token
    if ANONYMOUS_CSRF not in request:
        request[ANONYMOUS_CSRF] = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    token: str = request[ANONYMOUS_CSRF]
    return token


async def check_csrf(request: web.Request) -> None:
    """403 unless an unsafe request carries the right token (form field `_csrf` or header X-CSRF-Token)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.post()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    session = await current_session(request)
    expected = session.csrf_token if session else request.cookies.get(CSRF_COOKIE)
    if not sent or not expected or not secrets.compare_digest(sent, expected):
        raise web.HTTPForbidden(
            text=translate(request, "The form has expired or did not come from this site. Reload the page and retry.")
        )


async def require_user(request: web.Request, roles: Iterable[str] | None = None) -> WebUser:
    """The logged-in user, after checking their role and, on POST, the CSRF token.

    Not logged in: a redirect to the login page (which comes back here). Wrong role: 403.
    """
    user = await current_user(request)
    if user is None:
        target = request.path_qs if request.method in SAFE_METHODS else request.path
        raise web.HTTPSeeOther(URL("/login").with_query(next=target))
    allowed = tuple(roles) if roles is not None else None
    if allowed is not None and user.role not in allowed:
        raise web.HTTPForbidden(text=translate(request, "Your account cannot open this page."))
    await check_csrf(request)
    return user


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path of this site, else None: where a login may send the browser back to.

    Checked the way a browser reads a Location header, after decoding: it drops tabs and newlines anywhere
    (`/%09/evil.example` is `//evil.example`), reads a backslash as a slash (`/%5Cevil.example`), and an
    encoded slash may be decoded on the way by a proxy (`/%2F/evil.example`). Any of those, control characters,
    and any scheme or host are refused."""
    if not target or len(target) > MAX_NEXT_LENGTH or not target.startswith("/"):
        return None
    if any(char < " " or char in "\\\x7f" for char in target):
        return None
    decoded = target
    for _ in range(3):  # double and triple encodings too
        decoded = unquote(decoded)
    decoded = "".join(char for char in decoded if char not in "\t\n\r")
    path = decoded.split("?", 1)[0].replace("\\", "/")
    if not path.startswith("/") or path.startswith("//") or any(char < " " for char in path):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def landing_page(request: web.Request, user: WebUser) -> str:
    """Where a user lands after logging in: the back-office, or the first plugin page their role may open."""
    if user.role in NODE_ROLES:
        return "/admin"
    for entry in request.config_dict[WEB].nav:
        if user.role in entry.roles:
            return entry.path
    return "/"


async def login_page(request: web.Request) -> web.StreamResponse:
    from federation.web.rendering import render

    user = await current_user(request)
    if user is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")) or landing_page(request, user))
    return await render(request, "login.html", {"next": safe_next(request.query.get("next")) or ""})


async def login(request: web.Request) -> web.StreamResponse:
    from federation.web.rendering import render

    await check_csrf(request)
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    web_context = request.config_dict[WEB]
    guard = request.config_dict[LOGIN_GUARD]
    context = {"next": target or "", "username": username}
    try:
        # Spent before anything costly: a throttled attempt reads no account and hashes nothing.
        guard.admit(guard.client_of(request), username)
        user = None
        if len(password) <= MAX_PASSWORD_LENGTH:
            user = await authenticate(request.config_dict[appkeys.ENGINE], username, password, guard.verify)
    except Throttled as refused:
        if refused.busy:
            context["error"] = translate(request, "The server is busy checking other logins. Try again in a moment.")
        else:
            context["error"] = translate(request, "Too many login attempts. Try again in %(seconds)d seconds.") % {
                "seconds": refused.retry_after
            }
        response = await render(request, "login.html", context, status=503 if refused.busy else 429)
        response.headers["Retry-After"] = str(refused.retry_after)
        return response
    if user is None:
        context["error"] = translate(request, "Wrong username or password.")
        return await render(request, "login.html", context, status=401)
    previous = await current_session(request)
    if previous is not None:  # a new login never keeps an old session id (no session fixation)
        await close_session(request.config_dict[appkeys.ENGINE], previous.session_id)
    session_id, _ = await open_session(request.config_dict[appkeys.ENGINE], user, web_context.settings.session_hours)
    response = web.HTTPSeeOther(target or landing_page(request, user))
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(web_context.settings.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=secure_cookies(request),
    )
    raise response


def secure_cookies(request: web.Request) -> bool:
    """Whether cookies get `Secure`: the node's base URL is https, or a trusted reverse proxy says https."""
    return request.config_dict[WEB].secure_cookies or request.config_dict[LOGIN_GUARD].behind_https(request)


async def logout(request: web.Request) -> web.StreamResponse:
    await check_csrf(request)
    session = await current_session(request)
    if session is not None:
        await close_session(request.config_dict[appkeys.ENGINE], session.session_id)
    response = web.HTTPSeeOther("/")
    response.del_cookie(SESSION_COOKIE, path="/", secure=secure_cookies(request), httponly=True, samesite="Lax")
    raise response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page, allow_head=False)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
