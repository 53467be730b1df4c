"""The ``mandate-sim`` command line (typer): ``app`` is the typer application, ``main`` the entry point.

Each group of commands lives in its own module as plain functions (``core``: scenarios, run, compare, params,
schema; ``explain``: explain; ``studies``: validate, calibrate; ``sweeps``: sweep, analyze; ``serve``: app); ``common`` holds what they
share. They are registered here, in the order ``mandate-sim --help`` lists them.

Every user error (a bad file, flag or value) prints one message naming the file or flag, the field, the value
and what is allowed, and exits with code 2; no traceback.
"""

from __future__ import annotations

import typer

from sim.errors import InputError
from sim.exiting import exit_after

from . import core, explain, serve, studies, sweeps
from .common import err_console

app = typer.Typer(
    name="mandate-sim",
    help="Simulate an engineering organisation adopting AI coding tools under different management policies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

app.command("scenarios")(core.scenarios)
app.command("run")(core.run)
app.command("compare")(core.compare)
app.command("explain", help=explain.HELP)(explain.explain)
app.command("params")(core.params)
app.command("schema")(core.schema)
app.command("validate")(studies.validate)
app.command("calibrate")(studies.calibrate)
app.command("sweep")(sweeps.sweep_command)
app.command("analyze")(sweeps.analyze_command)
app.command("app")(serve.app_command)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings to a user (an old key in a scenario file, say) as one line, without the code's file and line."""
    from rich.markup import escape

    err_console.print(f"[yellow]warning:[/yellow] {escape(str(message))}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; user errors become one message and exit code 2; warnings one line each."""
    import warnings

    warnings.showwarning = _show_warning
    try:
        rv = app(args=argv, prog_name="mandate-sim", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv  # a command's typer.Exit(code), returned by the parser in non-standalone mode
    except InputError as e:
        from rich.markup import escape

        err_console.print(f"[bold red]error:[/bold red] {escape(str(e))}", highlight=False, soft_wrap=True)
        return 2
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as e:
        # Usage errors from the command-line parser (unknown option, a flag of the wrong type) show their own message.
        if hasattr(e, "show") and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            return e.exit_code
        raise
    return 0


def entry() -> None:
    """The ``mandate-sim`` command: ``main``, then the process ends with its status once Python's exit work is done,
    without the native libraries' teardown, where pyarrow sometimes aborts after a finished command (sim/exiting.py).
    A command that fails with a traceback exits the usual way."""
    exit_after(main)


__all__ = ["app", "entry", "main"]
