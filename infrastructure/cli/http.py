"""`casejourney serve` and `casejourney token`: the HTTP API's two commands on the CLI."""

from __future__ import annotations

import os
import socket
import tempfile
from typing import Annotated, Any

import typer
from eventsourcing.persistence import PersistenceError

from domain.values import Actor, Role
from infrastructure.cli.common import fail


def register(cli: typer.Typer) -> None:
    @cli.command()
    def serve(
        ctx: typer.Context,
        host: Annotated[str | None, typer.Option(help="Defaults to CASEJOURNEY_HTTP_HOST (127.0.0.1).")] = None,
        port: Annotated[int | None, typer.Option(help="Defaults to CASEJOURNEY_HTTP_PORT (8000).")] = None,
        deadline_clock: Annotated[
            float | None, typer.Option(help="Also run the deadline clock every SECONDS in a background thread.")
        ] = None,
        workers: Annotated[
            int | None,
            typer.Option(min=1, help="Worker processes (default: one per core), each its own connections."),
        ] = None,
        proxy_headers: Annotated[
            bool,
            typer.Option(help="Trust X-Forwarded-For/-Proto from --forwarded-allow-ips (behind a proxy)."),
        ] = False,
        forwarded_allow_ips: Annotated[
            str, typer.Option(help="Proxies whose X-Forwarded-* headers are trusted (comma-separated).")
        ] = "127.0.0.1",
        root_path: Annotated[str, typer.Option(help="The path prefix a proxy serves the API under.")] = "",
        graceful_timeout: Annotated[
            int, typer.Option(min=1, help="Seconds in-flight requests get to finish on SIGTERM.")
        ] = 30,
        projections: Annotated[
            bool,
            typer.Option(help="Keep the read models current in this process (stands by if another runner does)."),
        ] = True,
    ) -> None:
        """Serve the HTTP API (OpenAPI at /openapi.json, interactive docs at /docs).

        With more than one worker each is a process started by uvicorn from the ASGI factory
        ``infrastructure.http.app:from_env``; the deadline clock and the checkpoints run once, in
        this process. SIGTERM stops taking connections and lets in-flight requests finish."""
        import uvicorn
        from rich.console import Console

        from infrastructure.http import create_app
        from infrastructure.http.auth import NoSecretConfigured, dev_secret_path
        from infrastructure.http.observe import log_requests_to_stderr

        settings = ctx.obj
        host = host or settings.http_host
        port = port or settings.http_port
        workers = workers or os.cpu_count() or 1
        try:
            api = create_app(settings)
        except NoSecretConfigured as exc:
            Console(stderr=True).print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
        except (PersistenceError, OSError) as exc:
            fail(f"cannot open the event store ({settings.describe_store()}): {exc}", 3)
        out = Console(stderr=True)
        out.print(f"case-journey API on {settings.describe_store()}, {workers} worker(s)")
        out.print(f"  docs     http://{host}:{port}/docs   (OpenAPI: /openapi.json)")
        if settings.http_jwt_secret is None and settings.store == "sqlite":
            out.print(
                "  tokens   casejourney token --role caseworker --actor cw-1"
                f"   (development secret: {dev_secret_path(settings)})"
            )
        ticker = None
        if deadline_clock:
            from infrastructure.audit.deadlines import DeadlineClock, DeadlineClockThread

            ticker = DeadlineClockThread(
                DeadlineClock(api.state.services.app),
                deadline_clock,
                on_error=lambda exc: out.print(f"[yellow]deadline clock:[/] {exc}"),
            )
            ticker.start()
            out.print(
                f"  deadline clock every {deadline_clock:g}s (missed targets escalated to"
                f" {settings.deadline_escalation_actor or 'the ACS senior leaders route'})"
            )
        signer = _checkpoint_ticker(api.state.services, settings, out)
        follower = _projection_runner(api.state.services, settings, out) if projections else None
        served: Any = api
        counts = None
        if workers > 1:
            # The workers read their settings from the environment: this command's options too; and
            # keep their metrics in one folder, which a scrape of any of them adds up (metrics.py).
            os.environ.update(settings_variables(settings))
            counts = tempfile.TemporaryDirectory(prefix="casejourney-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = counts.name
            served = "infrastructure.http.app:from_env"
        log_requests_to_stderr()
        try:
            config = uvicorn.Config(
                served,
                factory=workers > 1,
                workers=workers,
                host=host,
                port=port,
                log_level="info",
                access_log=False,  # ours: one JSON line per request (observe.RequestLog)
                proxy_headers=proxy_headers,
                forwarded_allow_ips=forwarded_allow_ips if proxy_headers else None,
                root_path=root_path,
                timeout_graceful_shutdown=graceful_timeout,
            )
            if workers > 1:
                from uvicorn.supervisors import Multiprocess

                listening = config.bind_socket()
                # uvicorn's shared socket is made with protocol 0, so asyncio does not set TCP_NODELAY
                # on what it accepts: every response then waited out Nagle and the client's delayed
                # ACK (40 ms; 181 req/s of /healthz with 2 workers against 1,356 with one). Accepted
                # connections inherit it from the listening socket on Linux.
                listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                Multiprocess(config, sockets=[listening]).run()
            else:
                uvicorn.Server(config).run()
        finally:
            for thread in (ticker, signer, follower):
                if thread is not None:
                    thread.stop.set()
                    thread.join(timeout=10)
            if follower is not None:
                follower.runner.models.close()
            api.state.services.close()
            if counts is not None:
                counts.cleanup()

    @cli.command()
    def token(
        ctx: typer.Context,
        role: Annotated[Role, typer.Option(help="The role the token acts in.")],
        actor: Annotated[str, typer.Option(help="The actor's id, e.g. cw-1.")],
        ttl: Annotated[int | None, typer.Option(help="Seconds until it expires.")] = None,
    ) -> None:
        """Print a signed bearer token (JWT) for an actor: for development and for operators."""
        from infrastructure.http.auth import NoSecretConfigured, issue_token

        try:
            typer.echo(issue_token(ctx.obj, Actor(actor, role), ttl_seconds=ttl))
        except (NoSecretConfigured, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None


def _checkpoint_ticker(services: Any, settings: Any, out: Any) -> Any:
    """Signs a checkpoint at start and every ``checkpoint_every`` seconds (0: never), each only after
    the whole store verifies (``sign_verified``); a log that has not grown keeps its checkpoint."""
    if not settings.checkpoint_every:
        return None
    from infrastructure.audit.deadlines import Ticker
    from infrastructure.eventstore.store_check import sign_verified

    def tick() -> None:
        note, result = sign_verified(services.app, services.access_log, settings, services.app.clock())
        if note is None:
            out.print(f"[bold red]checkpoint refused:[/] the store does not verify: {result.first_problem()}")
        else:
            out.print(f"checkpoint signed: {result.tree_size} events")

    ticker = Ticker(
        tick,
        settings.checkpoint_every,
        name="checkpoints",
        on_error=lambda exc: out.print(f"[yellow]checkpoint:[/] {exc}"),
    )
    ticker.start()
    out.print(f"  checkpoints signed every {settings.checkpoint_every:g}s (CASEJOURNEY_CHECKPOINT_EVERY; 0: off)")
    return ticker


def _projection_runner(services: Any, settings: Any, out: Any) -> Any:
    """The projection runner beside the workers (``RunnerBesideTheService``), when the API answers
    from the read-model tables: on the primary, with leases, so exactly one runner writes."""
    if settings.http_read_models != "tables":
        return None
    from infrastructure.cli.common import say_unavailable
    from infrastructure.readmodels.models import ReadModels
    from infrastructure.readmodels.runner import RunnerBesideTheService

    def outage(exc: BaseException | None, seconds: float) -> None:
        if exc is not None:
            say_unavailable(exc, seconds)
        else:
            out.print(f"projection runner: reconnected after {seconds:.1f}s")

    follower = RunnerBesideTheService(
        ReadModels(services.app, settings),
        on_outage=outage,
        on_standby=lambda exc: out.print(f"  projection runner standing by: {exc}"),
        on_error=lambda exc: out.print(f"[yellow]projection runner:[/] {type(exc).__name__}: {exc}"),
    )
    follower.start()
    out.print("  read models kept current here (--no-projections if `projections run` does it)")
    return follower


def settings_variables(settings: Any) -> dict[str, str]:
    """The store the options chose, as the variables a worker process reads (the rest of the
    settings come from the environment already)."""
    names = {"store": "CASEJOURNEY_STORE", "sqlite_path": "CASEJOURNEY_SQLITE_PATH"}
    found = {env: str(getattr(settings, field)) for field, env in names.items()}
    if settings.postgres_url:
        found["CASEJOURNEY_POSTGRES_URL"] = settings.postgres_url
    return found
