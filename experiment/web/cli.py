"""`python -m experiment.web serve`: put a stimulus set online.

    python -m experiment.web serve --stimuli stimulus_sets/demo-2afc --data-root lab_data --port 8000

Prints one line with the URL once the socket listens; Ctrl-C (SIGINT) or SIGTERM stops it after
the requests in flight are answered (every stored trial is already fsynced).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
from collections.abc import Sequence
from pathlib import Path

from experiment.web.config import PLATFORM_PARAMS, load_web_config
from labutil.errors import ArgumentParser, UserError


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m experiment.web", description="Run the experiment in the browser for "
                       "observers recruited online (Prolific, MTurk, SONA).")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve one stimulus set (2afc or questionnaire) until stopped")
    s.add_argument("--stimuli", type=Path, required=True, help="stimulus set folder (verified at start)")
    s.add_argument("--data-root", type=Path, default=Path("lab_data"),
                   help="lab data root: registry and BIDS sessions (default: %(default)s)")
    s.add_argument("--private-root", type=Path, default=None,
                   help="the registry's restricted folder, where platform ids are kept (default: lab_private)")
    s.add_argument("--config", type=Path, default=None, help="TOML overriding experiment/web/web.toml")
    s.add_argument("--database", default=None,
                   help="server state: sqlite:///PATH (default: sqlite:///<data-root>/.web/state.sqlite) "
                        "or postgresql://user@host/db")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    s.add_argument("--port", type=int, default=8000, help="port (default: %(default)s; 0 = any free port)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    """Check everything, bind the socket, print the URL, run until stopped."""
    import uvicorn

    _Server = _server_class()
    from experiment.web.app import check_bundle, create_app
    from experiment.web.state import StateStore
    from experiment.web.study import OnlineStudy
    from participants.registry import Registry
    from stimuli.sets import open_verified_set

    check_bundle()
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: must be 0-65535")
    cfg = load_web_config(args.config)
    database = args.database or f"sqlite:///{Path(args.data_root) / '.web' / 'state.sqlite'}"
    study_args = (args.stimuli, args.data_root, args.private_root, cfg)
    open_verified_set(args.stimuli)  # refuse a bad set or registry folders before creating any state
    Registry(args.data_root, args.private_root)
    sock = _bind(args.host, args.port)
    try:
        store = StateStore(database)
    except BaseException:
        sock.close()
        raise
    study = OnlineStudy(*study_args, store)
    app = create_app(study)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    param = PLATFORM_PARAMS[cfg.platform][0]
    print(f"experiment.web: serving {study.stimset.name} ({study.task}, {len(study.trials)} trials) at "
          f"http://{shown}:{port}/?{param}=... (Ctrl-C to stop)", flush=True)
    server = _Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=10))
    try:
        server.run(sockets=[sock])
    finally:
        store.close()
        sock.close()
    print("experiment.web: stopped", flush=True)
    return 0


def _server_class():  # type: ignore[no-untyped-def]
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, stopping gracefully on SIGINT or SIGTERM without re-raising the signal."""

        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[no-untyped-def]
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self.handle_exit)
            yield

    return Server


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # inherited by accepted connections: a response's header and body writes go out at once
    # instead of the body waiting ~40 ms for the client's delayed ACK
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(128)
    return sock
