"""A run folder to rate, without training: the report fixture's run (tests/report_fixtures.py) with
sample files in its cells' folders, as a real run leaves them (samples.npz of real digits images,
samples.txt of sentences), and a small HTTP client for the rating app."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from aigc_eval.atomic import write_json, write_text
from aigc_eval.samples import save_samples_npz
from report_fixtures import _digits, build_run

SENTENCES = {"lm": ["a dog sits on the mat .", "the cat eats fish .", "a bird can fly ."],
             "sentence_vae": ["dog the mat on .", "fish cat the .", "a a a bird ."]}


def rated_run(run_dir) -> tuple[Path, dict]:
    """(run_dir, results): results.json written, and each finished model cell's samples on disk."""
    run_dir = Path(run_dir)
    results = build_run(run_dir)
    images, _ = _digits()
    for k, cell in enumerate(results["cells"]):
        if cell["status"] != "done" or cell["calibration"]:
            continue
        folder = run_dir.parent / "cells" / cell["dataset"] / f"{cell['model']}-s{cell['seed']}"
        folder.mkdir(parents=True, exist_ok=True)
        cell["cell_dir"] = str(folder)
        if cell["kind"] == "image":
            picked = images[np.random.default_rng(k).choice(len(images), 20)]
            save_samples_npz(folder / "samples.npz", (picked[:, None] * 255).astype(np.uint8))
        else:
            write_text(folder / "samples.txt", "\n".join(SENTENCES.get(cell["model"], ["a dog ."])) + "\n")
    write_json(run_dir / "results.json", results)
    return run_dir, results


class Client:
    """JSON over HTTP to the app, as the page's script talks to it."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.token = None

    def request(self, method: str, path: str, body=None, token=None, raw: bytes | None = None):
        """(status, parsed JSON or bytes)."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        if token or self.token:
            req.add_header("X-Rating-Token", token or self.token)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, payload, kind = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, payload, kind = e.code, e.read(), e.headers.get("Content-Type", "")
        return status, json.loads(payload) if "json" in kind else payload

    def start(self, rater: str) -> dict:
        status, data = self.request("POST", "/api/session", {"rater": rater})
        assert status == 200, data
        self.token = data["token"]
        return data

    def next(self) -> dict:
        status, data = self.request("POST", "/api/next", {})
        assert status == 200, data
        return data

    def vote(self, pair: dict, answer: str):
        return self.request("POST", "/api/vote", {"left": pair["left"]["id"], "right": pair["right"]["id"],
                                                  "answer": answer})


@contextmanager
def serving(app):
    """The app on a free loopback port, in a thread of this process (uvicorn, as `aigc-eval rate`)."""
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
