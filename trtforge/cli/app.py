"""The `trtforge` command: a thin shell. Parse -> call the core -> render (rich or --json).

Errors are caught in one place (`main`): a TrtforgeError prints one line and exits with its code;
anything else is an internal error (exit 1), with the traceback only when TRTFORGE_DEBUG=1.
"""

from __future__ import annotations

import functools
import os
import sys

import typer

from trtforge import __version__, secrets
from trtforge.cli import build_cmds, deploy_cmds, model_cmds, recipe_cmds, serve_cmds
from trtforge.errors import EXIT_INTERNAL, TrtforgeError

app = typer.Typer(
    name="trtforge",
    help="Build TensorRT-LLM + Triton deployments from a YAML recipe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trtforge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Build TensorRT-LLM + Triton deployments from a YAML recipe."""


for _module in (recipe_cmds, model_cmds, build_cmds, serve_cmds, deploy_cmds):
    _module.register(app)


@functools.cache
def _command():  # noqa: ANN202 - typer.main.get_command returns its vendored click Command
    """The click command tree, built once per process: Typer rebuilds it from every signature on each call
    (17 ms), which is what an in-process caller (the fuzzers, the in-process CLI tests) would pay per call."""
    return typer.main.get_command(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        _command()(args=argv, standalone_mode=True)  # click handles usage errors (exit 2)
    except TrtforgeError as exc:
        sys.stderr.write(f"error: {secrets.redact(exc.one_line())}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the one place that turns surprises into one line
        if os.environ.get("TRTFORGE_DEBUG") == "1":
            raise
        sys.stderr.write(
            f"error: internal error: {type(exc).__name__}: {secrets.redact(str(exc))[:500]} "
            "(set TRTFORGE_DEBUG=1 for a traceback)\n"
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(0)
