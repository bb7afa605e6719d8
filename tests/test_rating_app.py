"""The rating app over real HTTP (uvicorn on a loopback port): sessions and tokens, bad requests,
undo, adaptive pairs, two raters at once, and the vote store's CSV round trip."""
from __future__ import annotations

import itertools
import threading

import pytest

pytest.importorskip("fastapi", reason="the rate extra is not installed (pip install 'aigc-eval[rate]')")

from aigc_eval.cli import main  # noqa: E402
from aigc_eval.errors import UserError  # noqa: E402
from aigc_eval.rating.app import create_app  # noqa: E402
from aigc_eval.rating.catalog import load_catalog  # noqa: E402
from aigc_eval.rating.serve import check_host, open_run  # noqa: E402
from aigc_eval.rating.store import VoteStore, export_csv, read_csv  # noqa: E402
from rating_fixtures import Client, rated_run, serving  # noqa: E402
from report_fixtures import HOSTILE_NAME  # noqa: E402


@pytest.fixture
def run(tmp_path):
    run_dir, _ = rated_run(tmp_path / "run")
    results, store = open_run(run_dir)
    return run_dir, results, store, load_catalog(results, store.salt)


@pytest.fixture
def app_url(run):
    _, _, store, catalog = run
    with serving(create_app(catalog, store, seed=0)) as url:
        yield url


def _no_traceback(payload):
    text = payload if isinstance(payload, (bytes, str)) else str(payload)
    text = text.decode() if isinstance(text, bytes) else text
    assert "Traceback" not in text and "File \"" not in text


def test_a_vote_without_the_session_token_is_refused(run, app_url):
    _, _, store, _ = run
    client = Client(app_url)
    client.start("ann")
    pair = client.next()
    body = {"left": pair["left"]["id"], "right": pair["right"]["id"], "answer": "left"}
    for token in ("", "not-a-session"):
        status, data = Client(app_url).request("POST", "/api/vote", body, token=token or None)
        assert status == 403 and "token" in data["error"]
    assert store.count() == 0
    assert client.vote(pair, "left")[0] == 200 and store.count() == 1


def test_a_path_as_sample_id_is_refused_and_reads_no_file(run, app_url):
    _, _, store, catalog = run
    client = Client(app_url)
    client.start("ann")
    pair = client.next()
    for path in ("/sample/..%2F..%2Fetc%2Fpasswd", "/sample/../../etc/passwd", "/sample/%2Fetc%2Fpasswd"):
        status, data = client.request("GET", path)
        assert status == 404 and "root:" not in str(data), (path, data)
        _no_traceback(data)
    status, data = client.request("POST", "/api/vote", {"left": "../../etc/passwd", "right": pair["right"]["id"],
                                                        "answer": "left"})
    assert status == 400 and data["error"] == "left: not a sample id of this run"
    assert store.count() == 0
    image = next(iter(catalog.images))
    status, png = client.request("GET", f"/sample/{image}")
    assert status == 200 and png.startswith(b"\x89PNG")


def test_a_script_as_rater_name_is_escaped(app_url):
    client = Client(app_url)
    assert client.start(HOSTILE_NAME)["rater"] == HOSTILE_NAME
    client.vote(client.next(), "left")
    status, html = client.request("GET", "/progress")
    html = html.decode()
    assert status == 200 and HOSTILE_NAME not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("method, path, body, raw, status, message", [
    ("POST", "/api/session", {"rater": ""}, None, 400, "rater name"),
    ("POST", "/api/session", {"rater": "x" * 65}, None, 400, "rater name"),
    ("POST", "/api/session", None, b"{not json", 400, "malformed request"),
    ("POST", "/api/session", [1, 2], None, 400, "malformed request"),
    ("POST", "/api/vote", {"left": 1, "right": 2, "answer": "left"}, None, 400, "left: not a sample id"),
    ("GET", "/api/vote", None, None, 405, "Method Not Allowed"),
    ("GET", "/no/such/page", None, None, 404, "no such page"),
])
def test_bad_requests_get_a_4xx_with_a_message(app_url, method, path, body, raw, status, message):
    client = Client(app_url)
    client.start("ann")
    got, data = client.request(method, path, body, raw=raw)
    assert got == status and message in data["error"], data
    _no_traceback(data)


def test_each_pair_takes_one_vote_and_undo_gives_it_back(run, app_url):
    _, _, store, _ = run
    client = Client(app_url)
    client.start("ann")
    pair = client.next()
    assert client.next()["left"] == pair["left"]  # the same pair until it is voted on
    assert client.vote(pair, "both_bad")[0] == 200
    status, data = client.vote(pair, "left")  # a second key press on the same pair
    assert status == 409 and store.count() == 1
    status, undone = client.request("POST", "/api/undo", {})
    assert status == 200 and store.count() == 0
    assert (undone["left"], undone["right"]) == (pair["left"], pair["right"])
    assert client.vote(pair, "cant_tell")[0] == 200
    assert [v.answer for v in store.votes()] == ["cant_tell"]
    client.request("POST", "/api/undo", {})
    assert client.request("POST", "/api/undo", {})[0] == 409  # nothing left to undo


def test_pairs_cover_every_model_pair_and_then_the_closest(run, app_url):
    _, _, store, catalog = run
    client = Client(app_url)
    client.start("ann")
    order = {"cgan": 0, "dcgan": 1, "vae": 2, "wgan_gp": 3, "lm": 0, "sentence_vae": 1}
    for _ in range(30):
        pair = client.next()
        a, b = (catalog.samples[pair[s]["id"]].model for s in ("left", "right"))
        assert a != b and catalog.samples[pair["left"]["id"]].dataset == catalog.samples[pair["right"]["id"]].dataset
        assert client.vote(pair, "left" if order[a] < order[b] else "right")[0] == 200
    seen = {frozenset((v.model_a, v.model_b)) for v in store.votes()}
    for dataset in catalog.datasets():
        for pair in itertools.combinations(catalog.models(dataset), 2):
            assert frozenset(pair) in seen, pair


def test_two_raters_posting_at_once_lose_nothing(run, app_url):
    _, _, store, _ = run
    errors = []

    def rater(name):
        client = Client(app_url)
        client.start(name)
        for _ in range(200):
            status, data = client.vote(client.next(), "left")
            if status != 200:
                errors.append(data)

    threads = [threading.Thread(target=rater, args=(name,)) for name in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    votes = store.votes()
    assert len(votes) == 400 and len({v.vote_id for v in votes}) == 400
    assert sorted(v.rater for v in votes) == ["ann"] * 200 + ["bob"] * 200


def test_a_foreign_host_header_is_refused(app_url):
    client = Client(app_url)
    import urllib.request

    req = urllib.request.Request(app_url + "/", headers={"Host": "attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400
    assert client.request("GET", "/")[0] == 200


def test_only_loopback_without_allow_remote(capsys, tmp_path):
    for host in ("127.0.0.1", "::1", "localhost"):
        check_host(host, allow_remote=False)
    with pytest.raises(UserError, match="--allow-remote"):
        check_host("0.0.0.0", allow_remote=False)
    check_host("0.0.0.0", allow_remote=True)
    run_dir, _ = rated_run(tmp_path / "run")
    assert main(["rate", str(run_dir), "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a loopback address" in err


def test_votes_move_between_machines_by_csv(run, tmp_path, capsys):
    run_dir, results, store, catalog = run
    with serving(create_app(catalog, store, seed=1)) as url:
        for name in ("=HYPERLINK(1)", HOSTILE_NAME):
            client = Client(url)
            client.start(name)
            for answer in ("left", "right", "cant_tell"):
                client.vote(client.next(), answer)
    path = tmp_path / "votes.csv"
    assert main(["rate", str(run_dir), "--export", str(path)]) == 0
    assert "'=HYPERLINK(1)" in path.read_text()  # a spreadsheet shows it, does not run it

    other, _ = rated_run(tmp_path / "machine-b" / "run")
    assert not (other / "votes.sqlite").exists()
    empty = tmp_path / "none.csv"
    assert main(["rate", str(other), "--export", str(empty)]) == 0  # nobody rated it yet
    assert empty.read_text().count("\n") == 1 and not (other / "votes.sqlite").exists()
    assert main(["rate", str(other), "--import", str(path)]) == 0
    assert main(["rate", str(other), "--import", str(path)]) == 0  # again: nothing new
    assert "imported 0 new votes" in capsys.readouterr().err
    assert VoteStore(other / "votes.sqlite").votes() == store.votes()

    bad = tmp_path / "bad.csv"
    lines = path.read_text().splitlines()
    bad.write_text("\n".join(lines[:3] + [lines[3].replace(",cant_tell,", ",maybe,")]) + "\n")
    before = VoteStore(other / "votes.sqlite").count()
    with pytest.raises(UserError, match=r"bad\.csv: line 4: answer 'maybe'"):
        read_csv(bad, results["run_id"])
    assert main(["rate", str(other), "--import", str(bad)]) == 2
    assert VoteStore(other / "votes.sqlite").count() == before
    with pytest.raises(UserError, match="another run's"):
        read_csv(path, "some-other-run")


def _add_votes(path, rater, n):
    from aigc_eval.rating.catalog import Sample
    from aigc_eval.rating.store import new_vote

    store = VoteStore(path)
    a, b = Sample("0" * 16, "digits", "dcgan", 0, 0), Sample("1" * 16, "digits", "vae", 0, 1)
    for _ in range(n):
        store.add([new_vote("run", rater, "digits", "q", "Q?", a, b, "a")])


def test_two_processes_writing_one_store_lose_nothing(tmp_path):
    import multiprocessing

    path = tmp_path / "votes.sqlite"
    VoteStore(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_add_votes, args=(path, name, 200)) for name in ("ann", "bob")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert VoteStore(path).count() == 400


def test_a_run_without_sample_files_or_with_an_unknown_dataset_is_one_line(tmp_path, capsys):
    import shutil

    run_dir, _ = rated_run(tmp_path / "run")
    assert main(["rate", str(run_dir), "--port", "0", "--datasets", "nope"]) == 2
    assert "--datasets: no model samples of nope" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "cells")
    assert main(["rate", str(run_dir), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no dataset has samples of two models" in err
    assert main(["rate", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert "expected a run folder holding results.json" in capsys.readouterr().err
