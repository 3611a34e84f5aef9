"""`modelforge`: the command line. It only wires load -> plan -> render -> write.

Exit codes (builder/errors.py, the README): 0 ok; 1 infeasible plan or drift; 2 bad input (spec, flags).
"""

from __future__ import annotations

import argparse
import difflib
import shlex
import sys
from pathlib import Path

from . import __version__, data
from .commands import Handler, plan_from, render_files
from .demo import register as demo_register
from .doctor.runner import register as doctor_register
from .engine import commands as engine_commands
from .errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, PlanError, SpecError, print_errors
from .load import load_spec
from .plan import make_plan
from .plan.show import show as show_plan
from .runs import commands as runs_commands
from .schema import SCHEMA_FILE, schema_text
from .serving import commands as serving_commands
from .serving import evaluate as eval_command


def _spec_args() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-f", "--file", default="modelforge.yaml", help="spec file (default: modelforge.yaml)")
    common.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a spec value, e.g. --set hardware.gpus=4 (repeatable)",
    )
    return common


def parser() -> argparse.ArgumentParser:
    """The whole CLI: the core commands here, then each stage's own (builder/commands.py says how)."""
    common = _spec_args()
    top = argparse.ArgumentParser(
        prog="modelforge", description="Fine-tune with ms-swift, serve with vLLM, from one spec."
    )
    top.add_argument("--version", action="version", version=f"modelforge {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    handlers: dict[str, Handler] = {}
    for register in (
        _register_core,
        data.register,
        doctor_register,
        engine_commands.register,
        runs_commands.register,
        serving_commands.register,
        eval_command.register,
        demo_register,
    ):
        handlers.update(register(sub, common))
    for name, handler in handlers.items():
        sub.choices[name].set_defaults(handler=handler)
    # Every subcommand's --help opens with the one line `modelforge --help` shows for it.
    for action in sub._choices_actions:
        command = sub.choices[action.dest]
        command.description = command.description or action.help
    return top


def _register_core(sub, common: argparse.ArgumentParser) -> dict[str, Handler]:
    p = sub.add_parser(
        "validate", parents=[common], help="check the spec and everything the planner checks; write nothing"
    )

    p = sub.add_parser("plan", parents=[common], help="show what will run: commands, layout, memory")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("render", parents=[common], help="write Dockerfiles, compose/ and k8s/ from the spec")
    p.add_argument("-o", "--out", default=None, help="output folder (default: the spec's folder)")
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 listing files that differ from a fresh render"
    )
    p.add_argument("--force", action="store_true", help="render even when the plan is infeasible")

    p = sub.add_parser("schema", help="print the spec's JSON Schema (editors complete modelforge.yaml with it)")
    p.add_argument("-o", "--out", default=None, help=f"write it to this file (e.g. {SCHEMA_FILE})")
    p.add_argument(
        "--check", metavar="FILE", default=None, help="write nothing; exit 1 when FILE differs from a fresh schema"
    )

    p = sub.add_parser("completion", help='print a shell completion script: eval "$(modelforge completion bash)"')
    p.add_argument("shell", choices=["bash", "zsh"], help="bash, or zsh (through bashcompinit)")
    return {
        "validate": _validate,
        "plan": lambda args: show_plan(plan_from(args), args.json),
        "render": lambda args: render_files(plan_from(args), args),
        "schema": _schema,
        "completion": lambda args: _print(_completion(parser(), args.shell)),
    }


def _validate(args: argparse.Namespace) -> int:
    """The spec's schema, then every check the planner makes (the same code path as `plan`): a spec that
    validates is one `plan` and `render` accept. Refusals name file:line (or the --set) of the key to change."""
    plan = make_plan(load_spec(args.file, args.overrides))
    if not plan.feasible:
        print_errors(plan.errors)
        print(f"{args.file}: well-formed, but the plan cannot run (errors above)")
        return EXIT_FAILED
    more = f"; {len(plan.warnings)} warning(s): `modelforge plan` shows them" if plan.warnings else ""
    print(f"{args.file}: valid, and the plan fits{more}")
    return EXIT_OK


def _print(text: str) -> int:
    sys.stdout.write(text)
    return EXIT_OK


def _commands(top: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _unknown_command(argv: list[str], top: argparse.ArgumentParser) -> str | None:
    """'modelforge paln' -> "unknown command 'paln'; did you mean 'plan'?" (argparse would list them all)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    commands = _commands(top)
    if first is None or first in commands or argv.index(first) != 0:
        return None
    close = difflib.get_close_matches(first, list(commands), n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown command {first!r}{hint} (modelforge --help lists them)"


def _completion(top: argparse.ArgumentParser, shell: str) -> str:
    """A bash completion function built from the parser itself, so it never lists a stale flag."""
    commands = _commands(top)
    cases = "\n".join(
        f"    {name}) opts={shlex.quote(' '.join(o for a in p._actions for o in a.option_strings))} ;;"
        for name, p in sorted(commands.items())
    )
    script = f"""# modelforge completion ({shell}): eval "$(modelforge completion {shell})"
_modelforge() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} opts
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W {shlex.quote(" ".join(sorted(commands)))} -- "$cur")); return
  fi
  case "${{COMP_WORDS[1]}}" in
{cases}
    *) opts="" ;;
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
}}
"""
    if shell == "zsh":
        script += "autoload -U +X bashcompinit && bashcompinit\n"
    return script + "complete -o default -F _modelforge modelforge\n"


def _schema(args: argparse.Namespace) -> int:
    text = schema_text()
    if args.check:
        path = Path(args.check)
        if not path.exists() or path.read_text() != text:
            print(
                f"{path} differs from the spec models' schema: run `modelforge schema -o {path}` and commit",
                file=sys.stderr,
            )
            return 1
        print(f"{path} matches the spec models")
        return 0
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command under the one exit-code contract (errors.EXIT_*): 0 ok; 1 infeasible plan, problems
    found or a failed run (PlanError); 2 bad spec, input or usage (SpecError; argparse exits 2 too)."""
    top = parser()
    argv = sys.argv[1:] if argv is None else argv
    unknown = _unknown_command(argv, top)
    if unknown:
        top.print_usage(sys.stderr)
        print_errors([unknown])
        return EXIT_BAD_INPUT
    args = top.parse_args(argv)
    try:
        return args.handler(args)
    except SpecError as exc:
        print_errors(exc.problems)
        return EXIT_BAD_INPUT
    except PlanError as exc:
        print_errors(exc.problems)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
