"""`trtforge serve`, `infer`, `bench` and `validate-repo`."""

from __future__ import annotations

import ipaddress
import signal
import sys
import tempfile
from pathlib import Path

import typer

from trtforge.cli.render import emit_event, emit_json, say, warn
from trtforge.errors import EXIT_INVALID, InvalidInput, StepFailed
from trtforge.triton.launch_command import shell_command
from trtforge.triton.validate import validate_repository


def _default_url(url: str | None) -> str:
    if url:
        return url
    # http.client + ssl, and the server launcher with the repository checks: ~90 ms of -X importtime that
    # the other commands must not pay
    from trtforge.serve.client import DEFAULT_URL
    from trtforge.serve.launch import running_servers

    servers = running_servers()
    return servers[0]["endpoints"]["http"] if servers else DEFAULT_URL


def serve(
    target: Path = typer.Argument(
        ..., help="A model repository directory, or a recipe whose build output has one."
    ),
    runtime: str = typer.Option(
        "auto",
        "--runtime",
        help="auto | reference | local | container. auto: reference "
        "for CPU repositories or when no GPU is present, else container.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (127.0.0.1: this machine only)."),
    http_port: int = typer.Option(0, "--http-port", help="0 = a free port."),
    grpc_port: int = typer.Option(0, "--grpc-port", help="0 = a free port."),
    metrics_port: int = typer.Option(0, "--metrics-port", help="0 = a free port."),
    checkpoint: Path = typer.Option(
        None,
        "--checkpoint",
        help="Reference runtime over an engine repository: the "
        "build's Hugging Face checkpoint to run instead of the engine.",
    ),
    image: str = typer.Option(None, "--image", help="Container runtime: override the recorded image."),
    ready_timeout: float = typer.Option(300.0, "--ready-timeout", help="Seconds to wait for readiness."),
    log_file: Path = typer.Option(
        None, "--log-file", help="Write the server log here (default: a temp file)."
    ),
    print_command: bool = typer.Option(False, "--print-command", help="Print the launch command and exit."),
    check: str = typer.Option(
        None,
        "--check",
        metavar="PROMPT",
        help="Smoke test: once ready, send PROMPT to every generate model (and its stream where it has one), "
        "print the answers, stop the server; non-zero exit if any fails.",
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON event per line (ready, answer, stopped)."),
) -> None:
    """Serve a model repository on a real Triton server until Ctrl-C / SIGTERM (or, with --check, one smoke
    test)."""
    # trtforge.api loads the recipe schema, planner and step graph: ~0.3 s `trtforge --help` must not pay.
    from trtforge import api
    from trtforge.serve.launch import ServeOptions  # http.client + ssl (see above)

    if not is_loopback(host):
        warn(exposed_warning(host))

    opts = ServeOptions(
        runtime=runtime,
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        checkpoint=checkpoint,
        image=image,
        ready_timeout_s=ready_timeout,
        log_file=log_file,
    )
    if print_command:
        runtime_used, argv = api.launch_command(target, opts)
        if as_json:
            emit_json({"runtime": runtime_used, "argv": argv})
        else:
            say(shell_command(argv))
        return

    def _terminate(signum, frame):  # SIGTERM behaves like Ctrl-C: stop the server, exit cleanly
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if not as_json:
            say(f"starting Triton for {target} ...")
        with api.serve(target, opts) as served:
            info = served.info()
            if as_json:
                emit_event({"event": "ready", **info})
            else:
                _print_ready(info, hint=check is None)
            if check is not None:
                _show_answers(api.smoke_check(served, check), as_json)
                raise KeyboardInterrupt  # leave through the same clean stop as Ctrl-C
            api.wait_until_stopped(served)
    except KeyboardInterrupt:
        if as_json:
            emit_event({"event": "stopped"})
        else:
            say("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to an external interface


def exposed_warning(host: str) -> str:
    return (
        f"warning: binding {host}: Triton's HTTP, gRPC and metrics endpoints have no authentication or "
        "TLS and serve its whole API (inference, repository index, shared-memory registration) to anyone "
        "who can reach this address (keep 127.0.0.1 and put an authenticating proxy in front to expose a "
        "model)"
    )


def _show_answers(check, as_json: bool) -> None:
    """The smoke test's answers (stream answers carry their verdict); raise its error after showing them
    all."""
    for a in check.answers:
        if as_json:
            extra = {"note": a.message} if a.verdict == "note" else {}
            extra |= {"mismatch": a.message} if a.verdict == "mismatch" else {}
            emit_event(
                {
                    "event": "answer",
                    "model": a.model,
                    "route": a.route,
                    "text": a.text,
                    "latency_s": round(a.latency_s, 4),
                }
                | extra
            )
        else:
            say(f"{a.model}/{a.route} ({a.latency_s * 1000:.0f} ms): {a.text!r}")
            if a.verdict == "note":
                say(f"note: {a.message}")
    if check.error is not None:
        raise check.error


def _print_ready(info: dict, hint: bool = True) -> None:
    say(f"ready in {info['ready_after_s']} s  runtime: {info['runtime']}  server: {info['server']}")
    if info.get("runtime_note"):
        say(f"note: {info['runtime_note']}")
    for key, value in info["endpoints"].items():
        say(f"{key:8s} {value}")
    for url in info["generate"]:
        say(f"generate {url}")
    for url in info["generate_stream"]:
        say(f"stream   {url}")
    say(f"log      {info['log']}")
    if hint:
        say('try: trtforge infer "Hello"   (Ctrl-C stops the server)')


def infer(
    prompt: str = typer.Argument(..., help="The prompt text."),
    url: str = typer.Option(
        None, "--url", help="Triton HTTP URL (default: the server `trtforge serve` started)."
    ),
    model: str = typer.Option(
        None, "--model", help="ensemble | tensorrt_llm_bls | tensorrt_llm (default: found)."
    ),
    max_tokens: int = typer.Option(64, "--max-tokens", min=1, help="Tokens to generate at most."),
    stream: bool = typer.Option(False, "--stream", help="Use generate_stream and print text as it arrives."),
    as_json: bool = typer.Option(False, "--json", help="Print {text, chunks, timings} as JSON."),
) -> None:
    """Send one prompt to a served model's generate (or generate_stream) endpoint."""
    from trtforge.serve.client import (  # http.client + ssl: ~20 ms of start-up
        discover,
        generate,
        generate_stream,
        payload,
    )

    target = discover(_default_url(url), model)
    if stream and not target.decoupled:
        raise StepFailed(
            f"{target.model} is not decoupled: streaming was disabled when the repository was built",
            hint="drop --stream, or rebuild with serving.streaming: true",
        )
    body = payload(target, prompt, max_tokens, stream)
    if stream:
        live = not as_json

        def show(piece: str) -> None:
            if live:
                sys.stdout.write(piece)
                sys.stdout.flush()

        result = generate_stream(target, body, on_chunk=show)
        if live:
            sys.stdout.write("\n")
    else:
        result = generate(target, body)
    if as_json:
        emit_json(
            {
                "model": target.model,
                "url": target.url,
                "runtime_note": target.runtime_note,
                "text": result.text,
                "chunks": result.chunks if stream else None,
                "ttft_ms": round(result.ttft_s * 1000, 2) if result.ttft_s is not None else None,
                "latency_ms": round(result.latency_s * 1000, 2),
            }
        )
    elif not stream:
        say(result.text)
    if target.runtime_note and not as_json:
        warn(f"({target.runtime_note})")


def bench(
    url: str = typer.Option(
        None, "--url", help="Triton HTTP URL (default: the server `trtforge serve` started)."
    ),
    model: str = typer.Option(
        None, "--model", help="ensemble | tensorrt_llm_bls | tensorrt_llm (default: found)."
    ),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Requests in flight."),
    requests: int = typer.Option(16, "--requests", min=1, help="Requests in total."),
    max_tokens: int = typer.Option(16, "--max-tokens", min=1, help="Output tokens per request."),
    prompt: str = typer.Option(None, "--prompt", help="Prompt text (default: a fixed sentence)."),
    tool: str = typer.Option("auto", "--tool", help="auto (aiperf when installed) | builtin | aiperf."),
    tokenizer: Path = typer.Option(
        None, "--tokenizer", help="aiperf: tokenizer directory (default: the served repository's own)."
    ),
    artifacts: Path = typer.Option(
        None, "--artifact-dir", help="aiperf: where its exports go (default: a temp dir)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run a bounded load against a served model: requests/s, tokens/s, TTFT and inter-token latency."""
    # http.client + ssl, and aiperf's subprocess plumbing: ~40 ms of start-up
    from trtforge.serve.aiperf import aiperf_command, find_tokenizer, run_aiperf
    from trtforge.serve.bench import DEFAULT_PROMPT, BenchConfig, run_builtin
    from trtforge.serve.client import discover

    if tool not in ("auto", "builtin", "aiperf"):
        raise InvalidInput(f"unknown --tool {tool!r}; choose auto, builtin or aiperf")
    target = discover(_default_url(url), model)
    cfg = BenchConfig(
        concurrency=concurrency, requests=requests, max_tokens=max_tokens, prompt=prompt or DEFAULT_PROMPT
    )
    found = None
    if tool != "builtin":
        try:
            found = find_tokenizer(target.url, tokenizer) if aiperf_command() or tool == "aiperf" else None
        except InvalidInput:
            if tool == "aiperf":
                raise
            found = None  # auto, a server that is not ours and no --tokenizer: the built-in client
    if found is not None:
        out = artifacts or Path(tempfile.mkdtemp(prefix="trtforge-bench-"))
        result = run_aiperf(target, cfg, found, out)
    else:
        result = run_builtin(target, cfg)
    if as_json:
        emit_json(result)
        return
    say(f"{result['model']} @ {result['url']}  ({result['tool']}, streaming={result['streaming']})")
    say(
        f"requests   {result['succeeded']}/{result['requests']} ok, concurrency {result['concurrency']}, "
        f"{result['wall_s']} s"
    )
    say(f"throughput {result['requests_per_s']} req/s, {result['output_tokens_per_s']} output tok/s")
    for key in ("ttft_ms", "inter_token_latency_ms", "request_latency_ms"):
        v = result[key]
        say(f"{key:24s} p50 {v['p50']}  p90 {v['p90']}  p99 {v['p99']}  mean {v['mean']}")
    say(f"output tokens counted by {result['output_tokens_counted_as']}")
    if result.get("artifacts"):
        say(f"aiperf exports in {result['artifacts']}")
    if result["errors"]:
        warn(f"{result['errors']} request(s) failed; first: {result['first_error']}")
    if result.get("runtime_note"):
        warn(f"({result['runtime_note']})")


def validate_repo(
    repository: Path = typer.Argument(..., help="Model repository directory."),
    as_json: bool = typer.Option(False, "--json", help="Print {valid, problems[]} as JSON."),
) -> None:
    """Check a model repository offline; exit 2 with one line per problem."""
    problems = validate_repository(repository)
    if as_json:
        emit_json(
            {
                "valid": not problems,
                "repository": str(repository),
                "problems": [p.to_json() for p in problems],
            }
        )
    else:
        for p in problems:
            warn(p.one_line())
        if not problems:
            say(f"{repository}: ok")
    if problems:
        raise typer.Exit(EXIT_INVALID)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(infer)
    app.command()(bench)
    app.command("validate-repo")(validate_repo)
