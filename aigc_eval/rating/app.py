"""The rating web app (FastAPI): blind pairwise votes on a run's samples.

    GET  /               the rating page (templates/rate.html.j2; its script is /app.js)
    GET  /app.js         the page's script, a fixed file of this package
    GET  /sample/{id}    a sample image by its opaque id (aigc_eval.rating.catalog)
    GET  /progress       votes per dataset and rater
    POST /api/session    {"rater": name} -> {"token"}: starts a rating session
    POST /api/next       the session's pair to rate (the same one until it is voted on)
    POST /api/vote       {"left", "right", "answer"}: a vote on the session's current pair
    POST /api/undo       removes the session's last vote and shows its pair again

Every /api call carries the session's token in the X-Rating-Token header; a cross-site form
cannot set that header, and without a valid token the answer is 403. A vote must name exactly the
pair the session was shown, so each pair takes one vote, and no request can vote on samples of
its own choosing. Sample ids are matched against the catalog (16 hex digits) and never reach the
file system. Errors are JSON {"error": message} with a 4xx status; an unexpected exception is a
500 with a generic message, its traceback only in the server's log. Pages go out with a
Content-Security-Policy that allows this app's own script and images only, and the Host header
must name the address the app listens on (against DNS rebinding).
"""
from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np
from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .catalog import Catalog, question_for
from .pairs import choose_pair
from .store import SAMPLE_ID, VoteStore, check_rater, new_vote

_HERE = Path(__file__).parent
TOKEN_HEADER = "X-Rating-Token"
ANSWER_OF_BUTTON = {"left": "a", "right": "b", "both_bad": "both_bad", "cant_tell": "cant_tell"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
       "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
log = logging.getLogger("aigc_eval.rating")


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Session:
    rater: str
    rng: np.random.Generator
    pair: tuple | None = None  # (left Sample, right Sample) shown and not yet voted on
    done: list = field(default_factory=list)  # (vote id, pair) of this session's votes, for undo
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(catalog: Catalog, store: VoteStore, allowed_hosts=("127.0.0.1", "localhost"),
               seed: int | None = None) -> FastAPI:
    """seed: of the pair choice (None: from the OS); each session draws its own stream from it."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    sessions: dict[str, Session] = {}
    sessions_lock = threading.Lock()
    seeds = np.random.SeedSequence(seed)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        message = exc.detail if exc.status_code != 404 else f"no such page: {request.url.path[:80]}"
        return JSONResponse({"error": str(message)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request, exc):
        return JSONResponse({"error": "malformed request: expected a JSON object body"}, status_code=400)

    @app.exception_handler(Exception)
    async def internal(request, exc):
        log.exception("rating app: %s %s failed", request.method, request.url.path)
        return JSONResponse({"error": "internal error (see the server's log)"}, status_code=500)

    def session_of(request: Request) -> Session:
        token = request.headers.get(TOKEN_HEADER, "")
        with sessions_lock:
            session = sessions.get(token) if token else None
        if session is None:
            raise ApiError(403, f"missing or unknown session token (header {TOKEN_HEADER}); "
                                "reload the page and enter your name")
        return session

    def pair_json(session: Session) -> dict:
        left, right = session.pair
        question = question_for(left.dataset, catalog.kinds[left.dataset])
        return {"question": question.text, "kind": catalog.kinds[left.dataset], "rater": session.rater,
                "votes": len(session.done), "total_votes": store.count(),
                "left": _sample_json(catalog, left), "right": _sample_json(catalog, right)}

    @app.get("/", response_class=HTMLResponse)
    def page():
        return env.get_template("rate.html.j2").render(run_id=catalog.run_id, datasets=catalog.datasets())

    @app.get("/app.js")
    def script():
        return Response((_HERE / "templates" / "rate.js").read_bytes(), media_type="text/javascript")

    @app.get("/sample/{sample_id}")
    def sample(sample_id: str):
        if not SAMPLE_ID.fullmatch(sample_id) or sample_id not in catalog.images:
            raise ApiError(404, "no image sample with that id (ids are 16 hex digits from /api/next)")
        return Response(catalog.png(sample_id), media_type="image/png")

    @app.get("/progress", response_class=HTMLResponse)
    def progress():
        counts: dict[tuple[str, str], int] = {}
        for vote in store.votes():
            counts[(vote.dataset, vote.rater)] = counts.get((vote.dataset, vote.rater), 0) + 1
        rows = [{"dataset": d, "rater": r, "votes": n} for (d, r), n in sorted(counts.items())]
        return env.get_template("progress.html.j2").render(run_id=catalog.run_id, rows=rows)

    @app.post("/api/session")
    def start(body: dict = Body(...)):
        try:
            rater = check_rater(body.get("rater"))
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        token = secrets.token_urlsafe(24)
        with sessions_lock:
            sessions[token] = Session(rater, np.random.default_rng(seeds.spawn(1)[0]))
        return {"token": token, "rater": rater}

    @app.post("/api/next")
    def next_pair(request: Request):
        session = session_of(request)
        with session.lock:
            if session.pair is None:
                session.pair = choose_pair(catalog, store.votes(), session.rng)
            return pair_json(session)

    @app.post("/api/vote")
    def vote(request: Request, body: dict = Body(...)):
        session = session_of(request)
        left, right, button = body.get("left"), body.get("right"), body.get("answer")
        for name, value in (("left", left), ("right", right)):
            if not isinstance(value, str) or not SAMPLE_ID.fullmatch(value) or value not in catalog.samples:
                raise ApiError(400, f"{name}: not a sample id of this run")
        if button not in ANSWER_OF_BUTTON:
            raise ApiError(400, f"answer must be one of {', '.join(ANSWER_OF_BUTTON)}")
        with session.lock:
            if session.pair is None or (left, right) != (session.pair[0].id, session.pair[1].id):
                raise ApiError(409, "that pair is not the one shown to this session (already voted on?)")
            a, b = session.pair
            question = question_for(a.dataset, catalog.kinds[a.dataset])
            ballot = new_vote(catalog.run_id, session.rater, a.dataset, question.id, question.text, a, b,
                              ANSWER_OF_BUTTON[button])
            store.add([ballot])
            session.done.append((ballot.vote_id, session.pair))
            session.pair = None
            return {"vote_id": ballot.vote_id, "votes": len(session.done)}

    @app.post("/api/undo")
    def undo(request: Request):
        session = session_of(request)
        with session.lock:
            if not session.done:
                raise ApiError(409, "nothing to undo in this session")
            vote_id, pair = session.done.pop()
            store.delete(vote_id)
            session.pair = pair
            return {"undone": vote_id, **pair_json(session)}

    return app


def _sample_json(catalog: Catalog, sample) -> dict:
    if sample.id in catalog.images:
        return {"id": sample.id, "src": f"/sample/{sample.id}"}
    return {"id": sample.id, "text": catalog.texts[sample.id]}
