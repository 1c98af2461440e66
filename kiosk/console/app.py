"""The staff console: a Starlette application with server-rendered pages (Jinja2)
and live updates over Server-Sent Events (a few lines of plain JavaScript, no build step).

Pages: all sites (alarms first), a site (today's periods, live entries,
occupancy and evacuation count, alarms with acknowledge, remote actions),
audit search, "why refused?", staff accounts (admin).  Roles: viewer (look),
operator (acknowledge, act, ask "why refused?"), admin (accounts).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from kiosk.console.auth import add_staff, authenticate, can, csrf_ok, new_csrf
from kiosk.console.config import ConsoleConfig
from kiosk.console.errors import AuthError, ConsoleError
from kiosk.console.store import ROLES, ConsoleStore
from kiosk.fleet.errors import CommandTimeout, FleetError
from kiosk.fleet.topics import DOOR_COMMANDS
from kiosk.i18n import LANGUAGES, LANGUAGE_NAMES, MissingMessage, normalise_language, translate
from kiosk.privacy import pseudonym

log = logging.getLogger("kiosk.console")
HERE = Path(__file__).resolve().parent
CHECK_ACTIONS = ("entry", "checkout", "renew", "return", "hold")


class Hub:
    """Live updates: every SSE client has a queue; a slow client loses old messages, never blocks."""

    def __init__(self) -> None:
        self.clients: set[asyncio.Queue[dict[str, Any]]] = set()

    def publish(self, message: dict[str, Any]) -> None:
        for queue in list(self.clients):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(message)


class Sink:
    """Between the console's fleet link and the store: store, then tell the browsers."""

    def __init__(self, store: ConsoleStore, hub: Hub) -> None:
        self.store = store
        self.hub = hub

    def status(self, site: str, device: str, online: bool) -> None:
        self.store.status(site, device, online)
        self.hub.publish({"kind": "device", "site": site, "device": device, "online": online})
        self.hub.publish({"kind": "alarms", "site": site})

    def state(self, site: str, device: str, state: dict[str, Any]) -> None:
        self.store.state(site, device, state)
        self.hub.publish({"kind": "device", "site": site, "device": device, "state": _public_state(state)})

    def add_events(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        new = self.store.add_events(batch)
        for ev in new[-200:]:
            self.hub.publish({"kind": "event", **_public_event(ev)})
            if ev.get("type") in ("alarm", "device", "payment", "help"):
                self.hub.publish({"kind": "alarms", "site": ev["site"]})
        return new


def _public_state(state: dict[str, Any]) -> dict[str, Any]:
    keys = ("online", "mode", "lock", "door", "alarms", "library", "queue", "devices", "occupancy", "kind")
    return {k: state.get(k) for k in keys if k in state}


def _public_event(ev: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "site", "device", "type", "at", "result", "rules", "card_ref", "reader", "detail", "source")
    return {k: ev.get(k) for k in keys if ev.get(k) is not None}


def _fmt_time(ts: float | str | None, with_date: bool = False) -> str:
    if ts is None:
        return ""
    if isinstance(ts, str):
        try:
            value = datetime.fromisoformat(ts)
        except ValueError:
            return ts
    else:
        value = datetime.fromtimestamp(float(ts)).astimezone()
    value = value.astimezone()
    return value.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


class Console:
    def __init__(self, config: ConsoleConfig, *, store: ConsoleStore | None = None, link: Any = None) -> None:
        self.config = config
        self.store = store or ConsoleStore(config.store_url())
        self.hub = Hub()
        self.sink = Sink(self.store, self.hub)
        self.link = link
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
        self.env.filters["time"] = _fmt_time
        self.env.filters["datetime"] = lambda ts: _fmt_time(ts, True)
        self.metrics = None
        token = config.metrics_token()
        self.metrics_token = token.encode() if token else None
        if config.console.metrics:
            from kiosk.metrics import ConsoleMetrics

            self.metrics = ConsoleMetrics(self.store)

    # ------------------------------------------------------------------ plumbing

    def make_link(self) -> Any:
        from kiosk.fleet.console_link import ConsoleLink
        from kiosk.fleet.link import LinkSettings

        b = self.config.broker
        settings = LinkSettings(
            host=b.host, port=b.port, username=b.username,
            password=self.config.secret_value(self.config.secrets.broker_password, "secrets.broker_password") or "",
            site="-", device="-", kind="console", tls=b.tls,
            ca_file=self.config.resolve(b.ca_file) if b.ca_file else None,
            cert_file=self.config.resolve(b.cert_file) if b.cert_file else None,
            key_file=self.config.resolve(b.key_file) if b.key_file else None,
            prefix=b.topic_prefix, keepalive=b.keepalive_seconds, max_backoff=10.0,
        )
        return ConsoleLink(settings, self.sink, client_id=self.config.console.client_id)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette):
        if self.link is None:
            self.link = self.make_link()
        await self.link.start()
        try:
            yield
        finally:
            await self.link.stop()

    def lang(self, request: Request) -> str:
        return normalise_language(request.session.get("lang") or self.config.console.language)

    def t(self, lang: str, key: str, **params: Any) -> str:
        try:
            return translate("console", key, lang, **params)
        except (MissingMessage, KeyError):
            return key

    def alarm_label(self, lang: str, alarm: dict[str, Any]) -> str:
        """Staff words for an alarm's kind (``device_lost:printer`` -> "Device lost");
        a kind without words in the catalog (a newer device's) is shown as it came."""
        kind = str(alarm.get("kind") or "?")
        try:
            return translate("console", "alarm." + kind.split(":")[0], lang)
        except (MissingMessage, KeyError):
            return self.t(lang, "alarm.other", kind=kind)

    def user(self, request: Request) -> dict[str, Any] | None:
        sess = request.session
        name = sess.get("user")
        if not name:
            return None
        if time.time() - float(sess.get("issued", 0)) > self.config.console.session_hours * 3600:
            sess.clear()
            return None
        staff = self.store.staff(name)
        if staff is None or staff.locked_until > time.time():
            sess.clear()
            return None
        return {"name": staff.username, "role": staff.role}

    def render(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = self.lang(request)
        user = self.user(request)
        if "csrf" not in request.session:
            request.session["csrf"] = new_csrf()
        html = self.env.get_template(template).render(
            t=lambda key, **p: self.t(lang, key, **p), alarm_label=lambda a: self.alarm_label(lang, a), lang=lang, languages=LANGUAGES, language_names=LANGUAGE_NAMES,
            user=user, csrf=request.session["csrf"], can=lambda need: user is not None and can(user["role"], need),
            sites=self.config.sites, path=request.url.path, **ctx,
        )
        return HTMLResponse(html, status_code=status)

    def site_name(self, site: str) -> str:
        s = self.config.sites.get(site)
        return s.name if s else site

    async def form(self, request: Request) -> dict[str, str] | None:
        """The POSTed form when its CSRF token is right, else None."""
        form = await request.form()
        data = {k: str(v) for k, v in form.items()}
        if not csrf_ok(request.session.get("csrf"), data.get("csrf")):
            return None
        return data

    def need(self, request: Request, role: str = "viewer") -> dict[str, Any] | Response:
        user = self.user(request)
        if user is None:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        if not can(user["role"], role):
            return self.render(request, "error.html", status=403, message=self.t(self.lang(request), "error.role", role=self.t(self.lang(request), f"role.{role}")))
        return user

    # ------------------------------------------------------------------ pages

    async def login_page(self, request: Request) -> Response:
        if request.method == "GET":
            return self.render(request, "login.html", next=request.query_params.get("next", "/"))
        data = await self.form(request)
        if data is None:
            return self.render(request, "login.html", status=400, error="error.csrf", next="/")
        username = data.get("username", "").strip()[:64]
        nxt = data.get("next") or "/"
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        try:
            who = authenticate(self.store, username, data.get("password", ""), data.get("code"),
                               attempts=self.config.console.lockout_attempts, lock_minutes=self.config.console.lockout_minutes)
        except AuthError as exc:
            self.store.audit(username or "?", "login", ok=False, detail=str(exc))
            return self.render(request, "login.html", status=401, error=str(exc), next=nxt, username=username)
        request.session.clear()  # a new session on login (no fixation)
        request.session.update(user=who.username, issued=time.time(), csrf=new_csrf(), lang=who.language)
        self.store.audit(who.username, "login", ok=True)
        return RedirectResponse(nxt, status_code=303)

    async def logout(self, request: Request) -> Response:
        data = await self.form(request)
        if data is not None and request.session.get("user"):
            self.store.audit(request.session["user"], "logout", ok=True)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def set_language(self, request: Request) -> Response:
        data = await self.form(request)
        if data is None:
            return PlainTextResponse("CSRF", status_code=400)
        lang = normalise_language(data.get("lang"))
        request.session["lang"] = lang
        user = self.user(request)
        if user is not None:
            self.store.set_language(user["name"], lang)
        back = data.get("back") or "/"
        return RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/", status_code=303)

    def overview(self) -> list[dict[str, Any]]:
        devices = self.store.devices()
        alarms = self.store.alarms()
        by_site: dict[str, dict[str, Any]] = {}
        for site, sc in self.config.sites.items():
            by_site[site] = {"site": site, "name": sc.name, "devices": [], "alarms": []}
        for d in devices:
            by_site.setdefault(d["site"], {"site": d["site"], "name": d["site"], "devices": [], "alarms": []})["devices"].append(d)
        for a in alarms:
            if a["cleared"] is None or a["acked"] is None:
                by_site.setdefault(a["site"], {"site": a["site"], "name": a["site"], "devices": [], "alarms": []})["alarms"].append(a)
        rows = list(by_site.values())
        for r in rows:
            r["offline"] = any(not d["online"] for d in r["devices"]) or not r["devices"]
            r["alarm_count"] = sum(1 for a in r["alarms"] if a["cleared"] is None)
        rows.sort(key=lambda r: (-r["alarm_count"], not r["offline"], r["name"].lower()))
        return rows

    async def sites_page(self, request: Request) -> Response:
        user = self.need(request)
        if isinstance(user, Response):
            return user
        template = "sites_part.html" if request.query_params.get("part") else "sites.html"
        return self.render(request, template, rows=self.overview())

    def today_periods(self, site: str) -> list[dict[str, Any]]:
        from policy import period_at

        sc = self.config.sites.get(site)
        if sc is None or sc.schedule is None:
            return []
        now = datetime.now().astimezone()
        at = now.replace(hour=0, minute=0, second=0, microsecond=0)
        end = at + timedelta(days=1)
        out = []
        for _ in range(48):
            try:
                p = period_at(sc.schedule, sc.branch, at)
            except Exception:  # noqa: BLE001 - an unknown branch: no periods shown
                return []
            start = max(p.start, at) if p.start else at
            stop = min(p.end, end) if p.end else end
            out.append({"kind": p.kind.value, "start": start.strftime("%H:%M"), "end": stop.strftime("%H:%M") if stop < end else "24:00",
                        "now": start <= now < stop})
            if p.end is None or p.end >= end:
                break
            at = p.end
        return out

    async def site_page(self, request: Request) -> Response:
        user = self.need(request)
        if isinstance(user, Response):
            return user
        site = request.path_params["site"]
        if site not in self.config.sites and not self.store.devices(site):
            return self.render(request, "error.html", status=404, message=self.t(self.lang(request), "error.no_site"))
        part = request.query_params.get("part")
        midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        devices = self.store.devices(site)
        occupancy = self.store.occupancy(site, midnight)
        reported = [d["state"] for d in devices if isinstance(d["state"].get("occupancy"), int)]
        if reported:  # the doors' own counts (their audit, their clock) win over the console's
            occupancy = {"estimate": sum(s["occupancy"] for s in reported),
                         "entries": sum(int(s.get("entries_today") or 0) for s in reported),
                         "exits": sum(int(s.get("exits_today") or 0) for s in reported)}
        ctx = dict(
            site=site, site_name=self.site_name(site), devices=devices,
            alarms=self.store.alarms(site), periods=self.today_periods(site),
            entries=self.store.events(site=site, types=("entry", "exit"), limit=50),
            occupancy=occupancy, flash=request.query_params.get("done"),
            door_commands=DOOR_COMMANDS,
        )
        if part == "alarms":
            return self.render(request, "site_alarms.html", **ctx)
        return self.render(request, "site.html", **ctx)

    async def ack(self, request: Request) -> Response:
        user = self.need(request, "operator")
        if isinstance(user, Response):
            return user
        data = await self.form(request)
        if data is None:
            return self.render(request, "error.html", status=400, message=self.t(self.lang(request), "error.csrf"))
        try:
            alarm_id = int(request.path_params["alarm"])
        except ValueError:
            return self.render(request, "error.html", status=404, message="?")
        got = self.store.acknowledge(alarm_id, user["name"])
        if got is None:
            return self.render(request, "error.html", status=404, message="?")
        self.store.audit(user["name"], "acknowledge", site=got["site"], device=got["device"], ok=True, detail=got["kind"],
                         reason=data.get("reason", "")[:500] or None)
        self.hub.publish({"kind": "alarms", "site": got["site"]})
        return RedirectResponse(f"/site/{got['site']}?done=ack", status_code=303)

    async def action(self, request: Request) -> Response:
        """GET: the confirmation page (reason, seconds); POST: send the command, show the answer."""
        site, device, action = request.path_params["site"], request.path_params["device"], request.path_params["action"]
        user = self.need(request, "operator")
        if isinstance(user, Response):
            return user
        lang = self.lang(request)
        if action not in DOOR_COMMANDS:
            return self.render(request, "error.html", status=404, message=self.t(lang, "error.no_action"))
        if request.method == "GET":
            return self.render(request, "action.html", site=site, site_name=self.site_name(site), device=device, action=action)
        data = await self.form(request)
        if data is None:
            return self.render(request, "error.html", status=400, message=self.t(lang, "error.csrf"))
        reason = data.get("reason", "").strip()
        args: dict[str, Any] = {}
        error = None
        if not reason:
            error = "action.reason_needed"
        if action == "release":
            try:
                seconds = float(data.get("seconds", "8"))
                if not 1 <= seconds <= 600:
                    raise ValueError
                args["seconds"] = seconds
            except ValueError:
                error = "action.seconds_bad"
        if data.get("confirm") != "yes":
            error = error or "action.confirm_needed"
        if error:
            return self.render(request, "action.html", status=400, site=site, site_name=self.site_name(site),
                               device=device, action=action, error=error, reason=reason, seconds=data.get("seconds", "8")[:6])
        reply = await self.send(user["name"], site, device, action, args, reason)
        return self.render(request, "action_done.html", site=site, site_name=self.site_name(site), device=device,
                           action=action, reply=reply)

    async def send(self, staff: str, site: str, device: str, action: str, args: dict[str, Any], reason: str) -> dict[str, Any]:
        cid = uuid.uuid4().hex
        stored_args = {k: v for k, v in args.items() if k != "card"}
        if "card" in args:
            key = self.config.site_key(site)
            stored_args["card_ref"] = pseudonym(args["card"], key) if key else "(no site key)"
        self.store.command_sent(cid, staff, site, device, action, stored_args, reason)
        try:
            if self.link is None:
                raise CommandTimeout("no broker link")
            reply = await self.link.command(site, device, action, staff=staff, reason=reason, args=args,
                                            timeout=self.config.console.command_timeout_seconds, command_id=cid)
        except (CommandTimeout, FleetError) as exc:
            reply = {"id": cid, "ok": False, "error": str(exc), "timeout": True}
        self.store.command_answered(cid, bool(reply.get("ok")), reply)
        self.store.audit(staff, action, site=site, device=device, reason=reason, ok=bool(reply.get("ok")),
                         detail=json.dumps({"args": stored_args, "error": reply.get("error"),
                                             **({"recorded": False} if reply.get("recorded") is False else {})},
                                            default=str)[:500])
        return reply

    async def why_page(self, request: Request) -> Response:
        user = self.need(request, "operator")
        if isinstance(user, Response):
            return user
        lang = self.lang(request)
        doors = [d for d in self.store.devices() if d["site"] in self.config.sites or True]
        if request.method == "GET":
            return self.render(request, "why.html", doors=doors, chosen=request.query_params.get("target", ""))
        data = await self.form(request)
        if data is None:
            return self.render(request, "error.html", status=400, message=self.t(lang, "error.csrf"))
        target = data.get("target", "")
        card = data.get("card", "").strip()
        check_action = data.get("check_action", "entry")
        reason = data.get("reason", "").strip()
        site, _, device = target.partition("/")
        error = None
        if not site or not device:
            error = "why.pick_device"
        elif not card or len(card) > 64:
            error = "why.card_needed"
        elif check_action not in CHECK_ACTIONS:
            error = "why.pick_action"
        elif not reason:
            error = "action.reason_needed"
        if error:
            return self.render(request, "why.html", status=400, doors=doors, chosen=target, error=error, reason=reason,
                               check_action=check_action)
        args: dict[str, Any] = {"card": card, "action": check_action}
        if check_action == "entry" and data.get("period") in ("staffed", "unmanned", "closed"):
            args["period"] = data["period"]
        reply = await self.send(user["name"], site, device, "check", args, reason)
        result = reply.get("result") or {}
        return self.render(request, "why.html", doors=doors, chosen=target, reply=reply, result=result,
                           check_action=check_action, reason=reason,
                           patron_message=self._message_for_staff(result, lang))

    def _message_for_staff(self, result: dict[str, Any], lang: str) -> str | None:
        """The decision explained in the staff member's language: each rule's title from the console catalog."""
        if not result:
            return None
        return result.get("message")

    async def audit_page(self, request: Request) -> Response:
        user = self.need(request)
        if isinstance(user, Response):
            return user
        q = request.query_params
        lang = self.lang(request)
        site = q.get("site") or None
        result = q.get("result") or None
        rule = (q.get("rule") or "").strip().upper() or None
        card = (q.get("card") or "").strip()
        error = None

        def when(name: str) -> float | None:
            text = (q.get(name) or "").strip()
            if not text:
                return None
            value = datetime.fromisoformat(text)
            return (value if value.tzinfo else value.astimezone()).timestamp()

        try:
            since, until = when("from"), when("to")
        except ValueError:
            since = until = None
            error = "audit.bad_time"
        refs = None
        if card:
            # The entered card is hashed with the site's key (each site's, when no site is chosen); never stored.
            keys = [(s, self.config.site_key(s)) for s in ([site] if site else list(self.config.sites))]
            refs = [pseudonym(card, k) for _, k in keys if k]
            if not refs:
                error = "audit.no_key"
        searched = any(q.get(k) for k in ("site", "result", "rule", "card", "from", "to", "go"))
        rows = [] if error or not searched else self.store.events(
            site=site, since=since, until=until, result=result, rule=rule, card_refs=refs, limit=500,
            types=None if not (result or rule or refs) else ("entry",),
        )
        actions = [] if not searched or card or error else self.store.staff_audit(site=site, since=since, until=until, limit=100)
        return self.render(request, "audit.html", rows=rows, actions=actions, error=error, searched=searched,
                           q={"site": site or "", "result": result or "", "rule": rule or "", "from": q.get("from", ""),
                              "to": q.get("to", ""), "card_given": bool(card)})

    async def staff_page(self, request: Request) -> Response:
        user = self.need(request, "admin")
        if isinstance(user, Response):
            return user
        lang = self.lang(request)
        message = error = None
        secret = None
        if request.method == "POST":
            data = await self.form(request)
            if data is None:
                return self.render(request, "error.html", status=400, message=self.t(lang, "error.csrf"))
            try:
                secret = add_staff(self.store, data.get("username", "").strip(), data.get("password", ""),
                                   data.get("role", ""), normalise_language(data.get("language")), totp=data.get("totp") == "yes")
                self.store.audit(user["name"], "staff.add", ok=True, detail=f"{data.get('username')} {data.get('role')}")
                message = "staff.added"
            except AuthError as exc:
                error = str(exc)
        return self.render(request, "staff.html", staff=self.store.staff_list(), roles=ROLES, message=message, error=error,
                           totp_secret=secret)

    async def events_stream(self, request: Request) -> Response:
        user = self.user(request)
        if user is None:
            return PlainTextResponse("login", status_code=401)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=500)
        self.hub.clients.add(queue)

        async def stream():
            try:
                yield "retry: 2000\n\n"
                while True:
                    try:
                        msg = await asyncio.wait_for(queue.get(), 15)
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    yield f"event: {msg['kind']}\ndata: {json.dumps(msg, default=str)}\n\n"
            finally:
                self.hub.clients.discard(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def metrics_page(self, request: Request) -> Response:
        if self.metrics_token is not None:
            scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8", "replace"), self.metrics_token):
                return PlainTextResponse("bearer token needed", status_code=401,
                                         headers={"WWW-Authenticate": 'Bearer realm="bibkiosk console metrics"'})
        if self.metrics is None:
            return PlainTextResponse("metrics off", status_code=404)
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(self.metrics.text(list(self.config.sites)), media_type=CONTENT_TYPE_LATEST)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "broker": bool(self.link and self.link.connected)})


class SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, wrapped)


def create_app(config: ConsoleConfig, *, store: ConsoleStore | None = None, link: Any = None) -> Starlette:
    console = Console(config, store=store, link=link)
    key = config.secret_value(config.secrets.session_key, "secrets.session_key")
    if not key or len(key) < 16:
        raise ConsoleError("secrets.session_key: at least 16 characters")
    routes = [
        Route("/login", console.login_page, methods=["GET", "POST"]),
        Route("/logout", console.logout, methods=["POST"]),
        Route("/language", console.set_language, methods=["POST"]),
        Route("/", console.sites_page),
        Route("/site/{site}", console.site_page),
        Route("/alarm/{alarm}/ack", console.ack, methods=["POST"]),
        Route("/site/{site}/{device}/{action}", console.action, methods=["GET", "POST"]),
        Route("/why", console.why_page, methods=["GET", "POST"]),
        Route("/audit", console.audit_page),
        Route("/staff", console.staff_page, methods=["GET", "POST"]),
        Route("/events", console.events_stream),
        Route("/metrics", console.metrics_page),
        Route("/health", console.health),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=key, session_cookie="bibkiosk_console", same_site="strict",
                   https_only=config.console.secure_cookies, max_age=int(config.console.session_hours * 3600)),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=console.lifespan)
    app.state.console = console
    return app
