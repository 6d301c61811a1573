"""Outpost's dashboard: sign-in, workspace choice, and the router. Pages live in pages/.

`streamlit run app.py` finds `app` at the bottom (an `st.App` whose server routes set and clear the session
cookie) and serves this same file as the script: run as the script (`__main__`) it draws the dashboard,
imported by the server it only builds the routes.

Signing in: the form checks the password through core (which also brakes guessing), then hands a one-time id to
`POST /auth/session`, which sets the HttpOnly cookie with a fresh session id and sends the browser back to the
page it asked for. Every run reads the cookie (`st.context.cookies`) and asks core whose session it is, so a
reload, a new tab or a platform's consent page keeps the person signed in, and a sign-out in one tab signs out
the others on their next action. `POST /auth/sign-out` revokes the session and clears the cookie.

Invitations: an owner's link, `/?invite=<token>` (`core.services.invitations`), opens the join page instead of the
sign-in form: a new person creates their account there (the invited email, fixed), someone with an account signs
in, someone already signed in with that email joins with one click; then the same hand-over as signing in, to
`/?joined=<workspace>`, which opens the workspace they joined.
"""
from __future__ import annotations

import html
from urllib.parse import parse_qs, urlencode, urlsplit

import streamlit as st

from core.domain.errors import OutpostError, SchemaOutOfDateError
from core.domain.timeutil import utcnow, zone
from core.services import auth, invitations, views
from pages.shared import Context, settings, show_problems, store


def _open_store():
    try:
        return store()
    except SchemaOutOfDateError as exc:
        st.error(str(exc))
        st.stop()


def _hand_over(handoff: str, next_path: str) -> None:
    """Post the one-time id to the session route (at once, with a button in case scripts are off)."""
    st.html(f"""<form id="outpost-handoff" method="post" action="/auth/session">
<input type="hidden" name="handoff" value="{html.escape(handoff)}">
<input type="hidden" name="next" value="{html.escape(next_path)}">
<p>Signing you in…</p><button type="submit">Continue</button></form>
<script>document.getElementById("outpost-handoff").submit();</script>""", unsafe_allow_javascript=True)
    st.stop()


def _next_path(url_path: str) -> str:
    """Where to go after signing in: the page asked for, with its query (a platform's answer, say)."""
    query = urlencode({k: st.query_params.get(k) for k in st.query_params})
    return "/" + url_path + ("?" + query if query else "")


def _elsewhere() -> str | None:
    """The dashboard's own address when this page was opened at another one (signing in would be refused)."""
    here, want = urlsplit(st.context.url or ""), urlsplit(settings().dashboard_url)
    if here.netloc and (here.scheme, here.netloc) != (want.scheme, want.netloc):
        return f"{want.scheme}://{want.netloc}"
    return None


def _browser_zone() -> str:
    """The browser's timezone when it reports a real IANA zone, else UTC (the person can type another)."""
    try:
        name = st.context.timezone or ""
        if name:
            zone(name)
            return name
    except Exception:   # no browser context (scripts), or a zone this machine does not know
        pass
    return "UTC"


def sign_in(db, url_path: str = "") -> None:
    st.title("Outpost")
    if (address := _elsewhere()) is not None:
        st.warning(f"Outpost signs people in at its own address: open [{address}]({address}/{url_path}) to sign in.")
    if not auth.has_users(db):
        st.subheader("Welcome! Create the owner account")
        st.caption("This is a fresh Outpost. The first account owns the first workspace; you can invite others later.")
        with st.form("signup"):
            name = st.text_input("Your name", key="signup_name")
            email = st.text_input("Email", key="signup_email")
            password = st.text_input("Password (at least 10 characters)", type="password", key="signup_password")
            ws_name = st.text_input("Workspace name", value="My brand", key="signup_workspace")
            tz = st.text_input("Workspace timezone", value=_browser_zone(), key="signup_tz",
                               help="Where your audience is: every time in Outpost is shown in this zone. An IANA "
                                    "name such as Europe/Berlin or America/New_York (this browser's zone to start).")
            if st.form_submit_button("Create account", type="primary"):
                try:
                    user, _ = auth.create_owner(db, email=email, password=password, display_name=name,
                                                workspace_name=ws_name, timezone_name=tz)
                except OutpostError as exc:
                    show_problems(exc)
                else:
                    _hand_over(auth.start_handoff(db, user.id, now=utcnow()), _next_path(url_path))
        return
    st.subheader("Sign in")
    if st.query_params.get("state"):
        st.info("Sign in to finish connecting your account.")
    with st.form("signin"):
        email = st.text_input("Email", key="signin_email")
        password = st.text_input("Password", type="password", key="signin_password")
        if st.form_submit_button("Sign in", type="primary"):
            try:
                user = auth.sign_in(db, email, password, now=utcnow())
            except auth.SignInRefused as exc:
                st.error(str(exc))
            else:
                _hand_over(auth.start_handoff(db, user.id, now=utcnow()), _next_path(url_path))
    st.caption("New here? Ask an owner of your team's workspace to invite you: their link creates your account.")


def _open_workspace(workspace_id: str, message: str) -> None:
    """Open `workspace_id` on this run (the sidebar's picker starts again on it) and say `message` there once."""
    st.session_state["workspace_id"] = workspace_id
    st.session_state.pop("workspace_picker", None)
    st.session_state["flash"] = [message]


def _join_page(db, token: str, user) -> None:
    """What an invitation link opens: join the workspace (signed in or not), or why the link cannot be used."""
    st.html(f"<style>{_NO_SIDEBAR}</style>")
    st.title("Outpost")
    look = invitations.look_up(db, token, now=utcnow(), user_id=user.id if user is not None else None)
    if not look.open:
        (st.info if look.state in (invitations.LinkState.USED, invitations.LinkState.ALREADY_MEMBER)
         else st.error)(look.message)
        st.markdown("[Go to Outpost](/)")
        return
    st.subheader(f"Join {look.workspace_name} as {look.role.value}")
    st.write(look.message)
    if user is not None:                    # already signed in (the invited person, or someone else)
        if (wrong := look.not_for(user.email)) is not None:
            st.warning(wrong)
            _sign_out_button()
            return
        if st.button(f"Join {look.workspace_name}", key="join_signed_in", type="primary"):
            try:
                _, ws = invitations.join_signed_in(db, token, user.id, now=utcnow())
            except OutpostError as exc:
                show_problems(exc)
            else:
                st.query_params.clear()
                _open_workspace(ws.id, f"You joined {ws.name} as {look.role.value}.")
                st.rerun()
        st.caption(f"Signed in as {user.email}.")
        return
    with st.form("join"):
        st.text_input("Email", value=look.email, disabled=True, key="join_email",
                      help="The invitation is for this address; it becomes your sign-in.")
        if look.has_account:
            st.caption("You already have an Outpost account with this email: sign in with its password to join.")
            name = ""
            password = st.text_input("Password", type="password", key="join_password")
            label = "Sign in and join"
        else:
            name = st.text_input("Your name", key="join_name")
            password = st.text_input("Password (at least 10 characters)", type="password", key="join_password")
            label = "Create account and join"
        if st.form_submit_button(label, type="primary"):
            try:
                joined, ws = invitations.join(db, token, display_name=name, password=password, now=utcnow())
            except OutpostError as exc:
                show_problems(exc)
            else:
                _hand_over(auth.start_handoff(db, joined.id, now=utcnow()), "/?" + urlencode({"joined": ws.id}))


def _pages(connecting: bool) -> list:
    pages = [st.Page("pages/posts.py", title="Posts", icon=":material/edit_note:", default=not connecting),
             st.Page("pages/calendar.py", title="Calendar", icon=":material/calendar_month:"),
             st.Page("pages/approvals.py", title="Approvals", icon=":material/task_alt:"),
             st.Page("pages/analytics.py", title="Analytics", icon=":material/insights:"),
             st.Page("pages/accounts.py", title="Accounts", icon=":material/link:"),
             st.Page("pages/activity.py", title="Activity", icon=":material/notifications:"),
             st.Page("pages/members.py", title="Members", icon=":material/group:"),
             st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
             st.Page("pages/profile.py", title="Your account", icon=":material/person:", url_path="account")]
    if connecting:  # the OAuth callback page exists only while a platform is sending someone back
        pages.append(st.Page("pages/connect.py", title="Connecting", icon=":material/sync:", url_path="connect", default=True))
    return pages


_NO_SIDEBAR = '[data-testid="stSidebar"],[data-testid="stSidebarCollapsedControl"]{display:none}'


def _signed_out(db) -> None:
    """The sign-in form at every page's address, so a deep link (/accounts) opens that page after signing in."""
    st.session_state.pop("ctx", None)
    # A tab signed out elsewhere would keep its sidebar as an empty panel: there is nothing in it to show.
    st.html(f"<style>{_NO_SIDEBAR}</style>")
    stand_ins = [st.Page(lambda path=p.url_path: sign_in(db, path), title="Sign in", url_path=p._url_path,
                         default=p._default) for p in _pages(connecting=False)]
    st.navigation(stand_ins, position="hidden").run()


def _sign_out_button() -> None:
    st.html("""<form method="post" action="/auth/sign-out"><button type="submit" style="padding:0.3rem 0.8rem;
border:1px solid rgba(49,51,63,0.3);border-radius:0.5rem;background:white;cursor:pointer">Sign out</button></form>""")


def main() -> None:
    st.set_page_config(page_title="Outpost", page_icon="📮", layout="wide")
    db = _open_store()
    # A platform sent the person back from its consent page: keep its answer for the Connecting page.
    if st.query_params.get("state") and ("code" in st.query_params or "error" in st.query_params) \
            and "pending_connect" not in st.session_state:
        st.session_state["pending_connect"] = dict(st.query_params)
    user = auth.session_user(db, st.context.cookies.get(auth.COOKIE_NAME), now=utcnow(),
                             policy=auth.SessionPolicy.from_settings(settings()))
    if (token := st.query_params.get(invitations.INVITE_PARAM)) is not None:
        _join_page(db, token, user)
        return
    if user is None:
        _signed_out(db)
        return
    me = views.signed_in(db, user.id)
    user, workspaces = me.user, me.workspaces
    if not workspaces:
        st.error("You are not a member of any workspace yet. Ask a workspace owner to invite you.")
        _sign_out_button()
        st.stop()
    names = {w.id: w.name for w in workspaces}
    if (joined := st.query_params.get("joined")) is not None:     # just joined through an invitation: open it
        del st.query_params["joined"]
        if joined in names:
            _open_workspace(joined, f"You joined {names[joined]} as {me.membership(joined).role.value}. Welcome!")
    with st.sidebar:
        current = st.session_state.get("workspace_id") if st.session_state.get("workspace_id") in names else workspaces[0].id
        chosen = st.selectbox("Workspace", list(names), index=list(names).index(current), format_func=names.get,
                              key="workspace_picker")
        st.session_state["workspace_id"] = chosen
        st.caption(f"Signed in as {user.email}")
        if settings().sandbox:
            st.caption(":material/science: Sandbox mode: platforms are emulated locally.")
        _sign_out_button()
    st.session_state["ctx"] = Context(user=user, workspace=next(w for w in workspaces if w.id == chosen),
                                      membership=me.membership(chosen), person=me.actor)
    for message in st.session_state.pop("flash", []):     # said once, on the page someone was sent to
        st.success(message)
    st.navigation(_pages(connecting="pending_connect" in st.session_state), position="sidebar").run()


# ---------------------------------------------------------------- the server routes (set and clear the cookie)

def _origin_ok(request, dashboard_url: str) -> bool:
    """Only the dashboard's own pages may post here (these routes are outside Streamlit's XSRF check)."""
    want = urlsplit(dashboard_url)
    return request.headers.get("origin") == f"{want.scheme}://{want.netloc}"


def _local(path: str | None) -> str:
    """A path on this dashboard to go back to; anything else (another site) becomes the home page."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def session_routes(open_store, get_settings) -> list:
    """POST /auth/session (a handoff id for the cookie) and POST /auth/sign-out, for `st.App`."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse, RedirectResponse
    from starlette.routing import Route

    def refused(request):
        if request.method != "POST":
            return PlainTextResponse("Use the sign-in form on the dashboard.", status_code=405,
                                     headers={"Allow": "POST"})
        if not _origin_ok(request, get_settings().dashboard_url):
            return PlainTextResponse(f"Open Outpost at {get_settings().dashboard_url} to sign in or out.",
                                     status_code=403)
        return None

    def cookie_flags() -> dict:
        return {"httponly": True, "samesite": "lax", "path": "/",
                "secure": urlsplit(get_settings().dashboard_url).scheme == "https"}

    async def session(request):
        if (answer := refused(request)) is not None:
            return answer
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        field = lambda name: (form.get(name) or [None])[0]  # noqa: E731
        policy = auth.SessionPolicy.from_settings(get_settings())
        raw = await run_in_threadpool(auth.adopt_handoff, open_store(), field("handoff"), now=utcnow(), policy=policy,
                                      user_agent=request.headers.get("user-agent"),
                                      previous=request.cookies.get(auth.COOKIE_NAME))
        response = RedirectResponse(_local(field("next")) if raw else "/", status_code=303)
        if raw:
            response.set_cookie(auth.COOKIE_NAME, raw, max_age=int(policy.absolute.total_seconds()), **cookie_flags())
        return response

    async def sign_out(request):
        if (answer := refused(request)) is not None:
            return answer
        await run_in_threadpool(auth.end_session, open_store(), request.cookies.get(auth.COOKIE_NAME), now=utcnow())
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(auth.COOKIE_NAME, **cookie_flags())
        return response

    return [Route("/auth/session", session, methods=["GET", "POST"]),
            Route("/auth/sign-out", sign_out, methods=["GET", "POST"])]


if __name__ == "__main__":
    main()
else:   # imported by the server (streamlit run app.py finds this st.App)
    # Routing is st.navigation's. Streamlit only learns that from the first run that calls it, so until then
    # the first visit after a start to /accounts would run pages/accounts.py alone (its old pages/ directory mode).
    # The switch is not public API: if a Streamlit release moves it, say so and carry on (deep links then work from
    # the second visit after a start, as st.navigation learns the pages).
    try:
        from streamlit.runtime.pages_manager import PagesManager
        if not hasattr(PagesManager, "uses_pages_directory"):
            raise AttributeError("PagesManager.uses_pages_directory")
        PagesManager.uses_pages_directory = False
    except (ImportError, AttributeError) as missing:
        import logging
        logging.getLogger("outpost.app").warning(
            "This Streamlit has no %s; the first deep link after a start may open the page without the sidebar.",
            missing)
    app = st.App(__file__, routes=session_routes(store, settings))
