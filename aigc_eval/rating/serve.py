"""`aigc-eval rate RUN_DIR`: open a run's votes, export or import them, or serve the rating app."""
from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from ..errors import UserError
from ..results import load_results
from .scores import VOTES_FILE
from .store import VoteStore, export_csv, read_csv


def check_host(host: str, allow_remote: bool) -> None:
    """Loopback addresses (and `localhost`) always; any other only with --allow-remote."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise UserError(f"--host {host}: not a loopback address; the app would be open to the network "
                        "(votes carry no accounts). Pass --allow-remote to serve it there anyway")


def _checked_run(run_dir) -> dict:
    run_dir = Path(run_dir)
    if not (run_dir / "results.json").is_file():
        raise UserError(f"{run_dir}: expected a run folder holding results.json (e.g. reports/latest)")
    return load_results(run_dir, what="run")


def open_run(run_dir) -> tuple[dict, VoteStore]:
    """The run's results and its votes, the votes file created when there is none yet."""
    return _checked_run(run_dir), VoteStore(Path(run_dir) / VOTES_FILE)


def export_votes(run_dir, path, log=print) -> int:
    """A run nobody has rated exports a header-only CSV and gets no votes file: reading creates nothing."""
    _checked_run(run_dir)
    votes_file = Path(run_dir) / VOTES_FILE
    n = export_csv(VoteStore(votes_file).votes() if votes_file.is_file() else [], path)
    log(f"exported {n} votes to {path}")
    return n


def import_votes(run_dir, path, log=print) -> int:
    results, store = open_run(run_dir)
    votes = read_csv(path, results["run_id"])
    added = store.add(votes)
    log(f"imported {added} new votes from {path} ({len(votes) - added} were already there)")
    return added


def serve(run_dir, host: str = "127.0.0.1", port: int = 8765, allow_remote: bool = False, datasets=None,
          seed: int | None = None, log=print) -> None:
    """Serve until interrupted. Port 0 takes a free port; the URL printed names the real one."""
    check_host(host, allow_remote)
    results, store = open_run(run_dir)
    try:
        import uvicorn

        from .app import create_app
    except ImportError as e:
        raise UserError(f"aigc-eval rate needs the rate extra ({e.name} is missing): "
                        "pip install 'aigc-eval[rate]'") from None
    from .catalog import load_catalog

    catalog = load_catalog(results, store.salt, datasets)
    for cell in catalog.skipped:
        log(f"note: {cell}: its sample files are gone; it is left out of the pairs")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UserError(f"--host {host} --port {port}: cannot listen there ({e.strerror or e})") from None
    bound_port = sock.getsockname()[1]
    hosts = ["*"] if allow_remote else ["127.0.0.1", "localhost", "[::1]", host]
    app = create_app(catalog, store, allowed_hosts=hosts, seed=seed)
    shown = f"[{host}]" if ":" in host else host
    log(f"rating {len(catalog.samples)} samples of {', '.join(catalog.datasets())} "
        f"(run {catalog.run_id}); votes go to {store.path}")
    log(f"open http://{shown}:{bound_port}/  (Ctrl-C stops; then `aigc-eval report {run_dir}`)")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
