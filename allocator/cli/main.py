"""Command line: ``allocator solve | plan | replay | report | validate | verify | generate | batch | bench``.

Exit codes: 0 success; 1 ``verify`` found a violation; 2 bad input (data, policy or
arguments); 3 the solver failed. No traceback reaches the user unless ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["main"]

EXIT_OK, EXIT_VIOLATION, EXIT_INPUT, EXIT_SOLVER = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2, as bad input does
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"allocator: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="allocator", description="Allocate scarce medical supplies: the optimal daily dispatch plan.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="log each stage's time and every escalation to whole units on stderr",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def policy_args(sp):
        sp.add_argument("--equity", choices=["on", "off"], help="override the policy's equity switch")
        sp.add_argument(
            "--icu-for-general",
            choices=["yes", "no"],
            help="may ICU-grade products serve general demand (overrides the policy)",
        )
        sp.add_argument(
            "--policy",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a policy value, e.g. weights.icu=6 or routes.cost_per_km=2 (repeatable)",
        )

    def limit_args(sp, per: str = ""):
        sp.add_argument(
            "--time-limit",
            type=float,
            default=None,
            metavar="SECONDS",
            help=f"limit on solver time{per}; when reached, the best plan found is returned with its status and "
            "bound (a model that is not a network needs its first stage done: else an error)",
        )
        sp.add_argument(
            "--memory-limit",
            type=float,
            default=None,
            metavar="GIB",
            help=f"memory the solve may use{per} (default: what the machine has available)",
        )

    s = sub.add_parser("solve", help="solve a day's instance and print the plan")
    s.add_argument("instance", help="instance folder (CSV files, optional policy.toml) or .xlsx workbook")
    s.add_argument(
        "--output",
        "-o",
        metavar="DIR",
        help="write dispatch.csv, fill.csv, allocation.csv, summary.json, marginal.csv, sources.csv",
    )
    s.add_argument("--excel", action="store_true", help="with --output, also write plan.xlsx")
    s.add_argument(
        "--report",
        metavar="HTML",
        help="also write the plan as one self-contained HTML page "
        "(map, priorities, flows, tables; as allocator report)",
    )
    s.add_argument("--format", choices=["text", "json"], default="text")
    s.add_argument("--top", type=int, default=10, help="shortfalls to list (default 10)")
    s.add_argument("--shipments", type=int, default=20, help="shipments to list (default 20)")
    s.add_argument(
        "--regions",
        type=int,
        default=40,
        help="regions to list in the fill-rate table, lowest fill first within each tier (default 40)",
    )
    limit_args(s)
    s.add_argument(
        "--solver",
        choices=["auto", "network", "highs"],
        default="auto",
        help="engine: network (exact integer flows, OR-Tools), highs (LP simplex) or auto "
        "(network for each product family whose data are whole numbers, else highs)",
    )
    s.add_argument(
        "--whole",
        choices=["auto", "proven", "rounded"],
        default="auto",
        help="with side constraints (capacity.csv, commitments.csv, lots, destination limits) whose LP "
        "optimum is not whole: proven (branch and bound to the whole-unit optimum; small models), "
        "rounded (the best whole-unit plan near the LP optimum, with its gap to the LP bound) or "
        "auto (proven up to 1,500 countable columns, else rounded)",
    )
    s.add_argument(
        "--hierarchy",
        action="store_true",
        help="two-level solve: nation to top regions (regions.csv parent), then each to its regions",
    )
    s.add_argument("--workers", type=int, default=1, help="with --hierarchy: processes for the provinces (default 1)")
    s.add_argument("--gap", action="store_true", help="with --hierarchy: also run the flat solve and print the gap")
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="EXPR",
        dest="changes",
        help="what-if (repeatable, applied in order): solve the instance as it is and as changed, and "
        "print what changes in the plan; --output then writes the what-if plan. EXPR is "
        "supply:SOURCE:PRODUCT=N (+=N adds, -=N takes away), demand:REGION:FAMILY[:USE]=N "
        "(+=N, -=N; USE general or icu), weight:REGION=W, flags:REGION+=FLAG (-=FLAG removes, "
        "=FLAG,FLAG sets, = alone clears) or policy:KEY=VALUE (as --policy)",
    )
    s.add_argument(
        "--no-explain",
        action="store_true",
        help="skip the explanations (marginal.csv, sources.csv and their summary): at county scale "
        "about a fifth of the solve time, and as long again to write sources.csv",
    )
    s.add_argument(
        "--previous",
        metavar="PLAN_DIR",
        help="a previous plan's folder (as -o writes it): keep the same makers serving the same regions "
        "unless priorities or fairness demand otherwise; each unit on a new (source, region) pair "
        "costs stability.change_cost more in the cost stage (default 500, set with --policy); "
        "the plan counts pairs kept, new and dropped and -o writes stability.csv",
    )
    policy_args(s)

    pl = sub.add_parser(
        "plan", help="plan several days at once (stock, lead and transit times) and print the plan day by day"
    )
    pl.add_argument("instance", help="instance folder or .xlsx workbook (a `day` column makes it multi-day)")
    pl.add_argument(
        "--horizon",
        type=int,
        default=None,
        metavar="H",
        help="days to plan (default: from --start to the instance's last day)",
    )
    pl.add_argument("--start", metavar="YYYY-MM-DD", help="first day (default: the instance's first day)")
    pl.add_argument(
        "--forecast",
        choices=["perfect", "persistence"],
        default="perfect",
        help="demand after the first day: the instance's (perfect) or the first day's (persistence)",
    )
    pl.add_argument(
        "--output",
        "-o",
        metavar="DIR",
        help="write shipments.csv, transfers.csv, fill.csv, stock.csv, by_day.csv, summary.json",
    )
    pl.add_argument("--format", choices=["text", "json"], default="text")
    pl.add_argument(
        "--report", metavar="HTML", help="also write the plan as one self-contained HTML page (as allocator report)"
    )
    pl.add_argument("--top", type=int, default=5, help="shortfalls to list per day (default 5)")
    limit_args(pl)
    policy_args(pl)

    rp = sub.add_parser(
        "replay",
        help="roll an H-day plan over the instance's days, committing one day at a time, "
        "and write the time series (CSV) and a chart (PNG)",
    )
    rp.add_argument("instance", help="a dated instance folder or .xlsx workbook")
    rp.add_argument(
        "--horizon",
        type=int,
        default=None,
        metavar="H",
        help="days planned each morning (default: 1 + the longest transit time, so that every "
        "shipment sent arrives inside the plan; a shorter horizon never sends on slower routes)",
    )
    rp.add_argument("--start", metavar="YYYY-MM-DD", help="first day (default: the instance's first day)")
    rp.add_argument("--end", metavar="YYYY-MM-DD", help="last day (default: the instance's last day)")
    rp.add_argument(
        "--forecast",
        choices=["perfect", "persistence"],
        default="perfect",
        help="demand after each morning's day: the instance's (perfect) or that day's (persistence)",
    )
    rp.add_argument(
        "--output",
        "-o",
        metavar="DIR",
        help="write the committed plan and time series (CSV), summary.json and replay.png",
    )
    rp.add_argument(
        "--report", metavar="HTML", help="also write the replay as one self-contained HTML page (as allocator report)"
    )
    rp.add_argument("--no-chart", action="store_true", help="with --output, do not draw replay.png")
    rp.add_argument("--format", choices=["text", "json"], default="text")
    limit_args(rp, per=" per morning")
    policy_args(rp)

    hr = sub.add_parser(
        "report",
        help="write a plan folder as one self-contained HTML page: map, priorities, "
        "flows, time series, sortable tables (works offline)",
    )
    hr.add_argument("plan", metavar="PLAN_DIR", help="a folder written by solve, plan or replay with --output")
    hr.add_argument("--output", "-o", metavar="HTML", required=True, help="the HTML file to write")
    hr.add_argument(
        "--instance",
        metavar="INSTANCE",
        help="the plan's instance: where sources and regions lie and the regions' priority flags "
        "(default: the folder's places.csv; a folder without it gets regions at their provincial "
        "capitals and no shipments on the map)",
    )

    v = sub.add_parser("validate", help="check an instance and list every problem")
    v.add_argument("instance")
    v.add_argument("--all", action="store_true", help=f"list every issue, not the first {SHOWN_ISSUES}")
    v.add_argument("--format", choices=["text", "json"], default="text")
    policy_args(v)

    g = sub.add_parser("generate", help="write a generated national instance, reproducibly from a seed")
    g.add_argument("--scale", choices=["province", "prefecture", "county", "village"], default="province")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--output", "-o", metavar="DIR", required=True, help="folder to write (must be new or empty)")

    c = sub.add_parser("verify", help="check a plan folder against the instance's rules")
    c.add_argument("instance")
    c.add_argument(
        "plan",
        help="plan folder: a day's (dispatch.csv, optionally fill.csv), or a multi-day plan's or replay's "
        "(shipments.csv, stock.csv, fill.csv, summary.json), checked day by day",
    )
    c.add_argument("--format", choices=["text", "json"], default="text")
    c.add_argument("--no-optimality", action="store_true", help="check feasibility only, not optimality")
    policy_args(c)

    b = sub.add_parser("batch", help="solve many instances x policy scenarios, serially or on a Dask cluster")
    b.add_argument("instances", nargs="+", metavar="INSTANCE", help="instance folders or .xlsx workbooks")
    b.add_argument(
        "--scenarios",
        metavar="FILE",
        help="CSV file: a 'scenario' column, then one column per policy key (run with every instance)",
    )
    b.add_argument(
        "--scheduler",
        default="local",
        metavar="ADDRESS|local|serial",
        help="local: a Dask cluster on this machine (default); serial: no Dask; tcp://HOST:8786: a cluster",
    )
    b.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default 2)")
    b.add_argument(
        "--retries",
        type=int,
        default=1,
        help="reruns of a task after an unexpected failure (not bad input) (default 1)",
    )
    b.add_argument("--time-limit", type=float, default=None, metavar="SECONDS", help="solver time limit per task")
    b.add_argument("--output", "-o", metavar="DIR", help="write DIR/results.csv and each plan to DIR/INSTANCE/SCENARIO")
    b.add_argument("--format", choices=["text", "json"], default="text")

    bn = sub.add_parser(
        "bench",
        help="time allocator end to end against the raw solver and a naive PuLP + CBC model on generated instances",
    )
    bn.add_argument(
        "--scale",
        default="province",
        metavar="LIST",
        help="comma list of province, prefecture, county, village (default province)",
    )
    bn.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    bn.add_argument(
        "--paths",
        default=None,
        metavar="LIST",
        help="comma list of allocator, allocator-equity, command, raw, raw-family, naive (default all)",
    )
    bn.add_argument("--format", choices=["text", "json"], default="text")
    bn.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="per path; a path that takes longer is reported as a timeout (default 600)",
    )
    bn.add_argument("--keep", metavar="DIR", help="keep the generated instances, arrays and plans in DIR (new folder)")
    bn.add_argument(
        "--replay",
        nargs="+",
        metavar="INSTANCE",
        help="bench policies on history instead: replay each dated INSTANCE under each scenario of "
        "--scenarios and print weighted shortfall, fill by priority, equity, cost and time",
    )
    bn.add_argument(
        "--scenarios",
        metavar="FILE",
        help="with --replay: CSV of policy scenarios (as for batch); the first is the baseline",
    )
    bn.add_argument(
        "--horizon",
        type=int,
        default=None,
        metavar="H",
        help="with --replay: days planned each morning (default: 1 + the longest transit time)",
    )
    bn.add_argument("--forecast", choices=["perfect", "persistence"], default="perfect", help="with --replay")
    bn.add_argument(
        "--side",
        action="store_true",
        help="bench the side constraints instead: the generated --scale instance (province or "
        "prefecture) with shared capacity, commitments, lots and destination limits against "
        "the plain network solve, and the side model built with PuLP; --timeout limits each "
        "path's solver stages",
    )
    return p


def _overrides(args) -> list[str]:
    out = list(args.policy)
    if args.equity:
        out.append(f"equity={args.equity}")
    if args.icu_for_general:
        out.append(f"icu_grade_for_general={'true' if args.icu_for_general == 'yes' else 'false'}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verbose:
        _log_to_stderr()
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("allocator: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the last line of defence: a message, never a traceback
        if args.debug:
            raise
        return _report_error(exc)


def _log_to_stderr() -> None:
    """The library logs stage timings and escalations (loggers ``allocator.*``, quiet by default)."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    log = logging.getLogger("allocator")
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def run() -> None:
    """The ``allocator`` command: ``main``, then exit.

    When the work is done and nothing else runs (no thread, no child process), the process
    ends without tearing down the interpreter (every module and object freed one by one, a
    tenth of a second after pandas): the output is flushed and the plan's files were
    closed and synced by ``write_outputs``. (The imports' objects were already frozen out
    of the garbage collector's scans by ``allocator/__init__.py``.)
    """
    import os
    import threading

    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    children = "multiprocessing" in sys.modules and sys.modules["multiprocessing"].active_children()
    if threading.active_count() == 1 and not children:
        os._exit(code)
    sys.exit(code)


def _report_error(exc: Exception) -> int:
    """One message on standard error and the exit code, for every error a user can meet."""
    from allocator.build.guard import InstanceTooLarge
    from allocator.errors import AllocatorError, InstanceError, OutputError, PolicyError, SolverError

    if isinstance(exc, InstanceError):
        if getattr(exc, "conflict", None) is not None:
            print(
                f"allocator: the hard constraints cannot all hold; these {len(exc.conflict)} rows conflict "
                "(change any one of them and the others can hold):",
                file=sys.stderr,
            )
        _print_issues(exc.issues, sys.stderr)
        return EXIT_INPUT
    prefixes = (
        (PolicyError, "policy error: ", EXIT_INPUT),
        (SolverError, "solver failed: ", EXIT_SOLVER),
        (InstanceTooLarge, "", EXIT_INPUT),
        (OutputError, "", EXIT_INPUT),
        (AllocatorError, "", EXIT_INPUT),  # every other deliberate error (errors.py): a usage or input problem
    )
    for kind, prefix, code in prefixes:
        if isinstance(exc, kind):
            print(f"allocator: {prefix}{exc}", file=sys.stderr)
            return code
    if isinstance(exc, OSError):
        print(f"allocator: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return EXIT_INPUT
    print(f"allocator: internal error ({type(exc).__name__}: {exc}); rerun with --debug and report it", file=sys.stderr)
    return EXIT_SOLVER


SHOWN_ISSUES = 50


def _print_issues(issues, stream, show_all: bool = False) -> None:
    """Every issue, errors first; past the first 50, a count per file and column instead."""
    errors = [i for i in issues if i.severity == "error"]
    warnings = [i for i in issues if i.severity != "error"]
    ordered = errors + warnings
    shown = ordered if show_all else ordered[:SHOWN_ISSUES]
    for issue in shown:
        print(str(issue), file=stream)
    rest = ordered[len(shown) :]
    if rest:
        groups: dict[tuple, int] = {}
        for issue in rest:
            key = (issue.severity, issue.file, issue.column or "")
            groups[key] = groups.get(key, 0) + 1
        print(
            f"... and {len(rest)} more (all of them: allocator validate INSTANCE --all, or --format json):", file=stream
        )
        for (severity, file, column), n in sorted(groups.items()):
            where = f"{file}, column '{column}'" if column else file
            print(f"    {n} more {severity}(s) in {where}", file=stream)
    print(f"{len(errors)} error(s), {len(warnings)} warning(s)", file=stream)


def _run_days(args, instance) -> int:
    from allocator.errors import AllocatorError
    from allocator.report.days import render_plan_text, render_replay_text, write_plan, write_replay

    if args.horizon is not None and args.horizon < 1:
        print("allocator: error: --horizon must be 1 or more", file=sys.stderr)
        return EXIT_INPUT
    limits = {
        "time_limit": args.time_limit,
        "memory_limit": None if args.memory_limit is None else args.memory_limit * 2**30,
    }
    try:
        if args.command == "plan":
            from allocator.pipeline.days import plan

            result = plan(instance, horizon=args.horizon, start=args.start, forecast=args.forecast, **limits)
            written = write_plan(result, args.output) if args.output else []
            text = render_plan_text(result, top=args.top)
        else:
            from allocator.pipeline.replay import replay

            result = replay(
                instance, horizon=args.horizon, start=args.start, end=args.end, forecast=args.forecast, **limits
            )
            for warning in result.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            written = write_replay(result, args.output, chart=not args.no_chart) if args.output else []
            text = render_replay_text(result)
    except ValueError as exc:  # a day outside the instance, an undated instance to replay
        if isinstance(exc, AllocatorError):
            raise
        print(f"allocator: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    written_report = None
    if args.report:
        write = (
            (lambda folder: write_plan(result, folder))
            if args.command == "plan"
            else (lambda folder: write_replay(result, folder, chart=False))
        )
        written_report = _write_html_report(args, instance, write)
    if args.format == "json":
        print(json.dumps(result.summary(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(text)
        if written:
            print(f"\nwrote {', '.join(str(p) for p in written)}")
        if written_report is not None:
            print(f"wrote {written_report} ({written_report.stat().st_size:,} bytes)")
    return EXIT_OK


def _write_html_report(args, instance, write_folder_of):
    """``--report HTML`` of ``solve``, ``plan`` and ``replay``: the page of the plan folder just written
    (or of one that ``write_folder_of(folder)`` writes to a temporary folder), so that it is the same page
    as ``allocator report PLAN_DIR --instance INSTANCE`` gives."""
    import tempfile
    from pathlib import Path

    from allocator.report.html.page import write_report

    if args.output:
        return write_report(args.output, args.report, instance=instance)
    with tempfile.TemporaryDirectory(prefix="allocator-report-") as tmp:
        folder = Path(tmp) / "plan"
        write_folder_of(folder)
        return write_report(folder, args.report, instance=instance)


def _run_whatif(args, instance, changes) -> int:
    """``solve --set``: the base plan and the what-if plan, and what changed between them."""
    from allocator.inputs.edits import apply_changes
    from allocator.pipeline.run import solve
    from allocator.report.compare import compare, render_whatif_text
    from allocator.report.folder import write_outputs

    whatif = apply_changes(instance, changes)  # a bad id or value: exit 2 before anything is solved
    memory = None if args.memory_limit is None else args.memory_limit * 2**30
    kw = dict(time_limit=args.time_limit, memory_limit=memory, solver=args.solver, whole=args.whole)
    base = solve(instance, **kw, explain=False)  # only the what-if plan is written
    changed = solve(whatif.instance, **kw, explain=not args.no_explain)
    diff = compare(base, changed)
    written = write_outputs(changed, args.output, excel=args.excel) if args.output else []
    known = {i.message for i in instance.warnings}
    warnings = [str(i) for i in changed.instance.warnings if i.message not in known]
    if args.format == "json":
        data = {
            "instance": instance.name,
            "whatif_instance": changed.instance.name,
            "changes": json.loads(whatif.changes.to_json(orient="records", force_ascii=False)),
            "solver": {"base": base.solver, "whatif": changed.solver},
            **diff.to_dict(),
            "new_warnings": warnings,
            "wrote": [str(p) for p in written],
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(
            render_whatif_text(base, changed, whatif.changes, diff, warnings, top=args.top, shipments=args.shipments)
        )
        if written:
            print(f"\nwrote the what-if plan: {', '.join(str(p) for p in written)}")
    return EXIT_OK


def _generate(args) -> int:
    """``allocator generate``: a generated instance folder, reproducibly from a seed."""
    from pathlib import Path

    from allocator.report.folder import OutputError
    from allocator.tools.generate import generate, write_instance

    out = Path(args.output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        msg = f"--output {out}: exists and is not an empty folder; expected a new folder for the instance"
        raise OutputError(msg)
    tables = generate(args.scale, args.seed)
    write_instance(tables, out, note=f"--scale {args.scale} --seed {args.seed}")
    sizes = ", ".join(f"{len(frame):,} {name}" for name, frame in tables.items())
    print(f"wrote {out}: {sizes}")
    return EXIT_OK


def _batch(args) -> int:
    """``allocator batch``: many instances x policy scenarios, serially or on a Dask cluster."""
    from time import perf_counter

    from allocator.pipeline.batch import (
        BatchError,
        make_tasks,
        read_scenarios,
        render_text,
        run_batch,
        scheduler_label,
        write_results,
    )

    tasks = make_tasks(args.instances, read_scenarios(args.scenarios) if args.scenarios else None)
    t = perf_counter()
    try:
        table = run_batch(
            tasks,
            scheduler=args.scheduler,
            workers=args.workers,
            retries=args.retries,
            time_limit=args.time_limit,
            output_dir=args.output,
        )
    except BatchError as exc:
        print(f"allocator: {exc}", file=sys.stderr)
        return EXIT_INPUT
    wall = perf_counter() - t
    if args.output:
        write_results(table, args.output)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "tasks": len(table),
                    "seconds": round(wall, 3),
                    "tasks_per_second": round(len(table) / wall, 3) if wall > 0 else None,
                    "results": json.loads(table.to_json(orient="records")),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        sys.stdout.write(render_text(table, wall, scheduler_label(args.scheduler, args.workers)))
        if args.output:
            print(f"wrote {args.output}/results.csv")
    kinds = set(table["error_kind"])  # a solver failure outranks bad input: it needs a report, not a fix
    return EXIT_SOLVER if "solver" in kinds else EXIT_INPUT if "input" in kinds else EXIT_OK


def _bench_side(args) -> int:
    """``allocator bench --side``: what the side constraints cost."""
    from allocator.errors import BenchError
    from allocator.tools.bench import SCALES, parse_list
    from allocator.tools.side_bench import render_side_json, render_side_text, run_side_bench

    try:
        report = run_side_bench(parse_list(args.scale, SCALES, "--scale"), seed=args.seed, time_limit=args.timeout)
    except BenchError as exc:
        print(f"allocator: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    sys.stdout.write(render_side_json(report) + "\n" if args.format == "json" else render_side_text(report))
    return EXIT_OK


def _bench_replay(args) -> int:
    """``allocator bench --replay``: policies on history."""
    from allocator.pipeline.batch import BASE, Scenario, read_scenarios
    from allocator.tools.policy_bench import bench_policies, render_policy_bench

    if args.horizon is not None and args.horizon < 1:
        print("allocator: error: --horizon must be 1 or more", file=sys.stderr)
        return EXIT_INPUT
    from allocator.errors import AllocatorError

    scenarios = read_scenarios(args.scenarios) if args.scenarios else [Scenario(BASE)]
    try:
        table = bench_policies(args.replay, scenarios, horizon=args.horizon, forecast=args.forecast)
    except ValueError as exc:  # an undated instance
        if isinstance(exc, AllocatorError):
            raise
        print(f"allocator: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    if args.format == "json":
        print(json.dumps(json.loads(table.to_json(orient="records")), indent=2))
    else:
        sys.stdout.write(render_policy_bench(table, horizon=args.horizon, forecast=args.forecast))
    return EXIT_OK


def _bench(args) -> int:
    """``allocator bench``: allocator end to end against the raw solver and naive PuLP + CBC."""
    if args.side:
        return _bench_side(args)
    if args.replay:
        return _bench_replay(args)
    from allocator.errors import BenchError
    from allocator.tools.bench import PATHS, SCALES, parse_list, render_json, render_text, run_bench

    try:
        scales = parse_list(args.scale, SCALES, "--scale")
        paths = parse_list(args.paths, PATHS, "--paths") if args.paths is not None else list(PATHS)
        report = run_bench(scales, seed=args.seed, paths=paths, timeout=args.timeout, keep=args.keep)
    except BenchError as exc:
        print(f"allocator: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    sys.stdout.write(render_json(report) + "\n" if args.format == "json" else render_text(report))
    return EXIT_OK


def _report(args) -> int:
    """``allocator report``: a plan folder as one self-contained HTML page."""
    from allocator.inputs.validate import load
    from allocator.report.html.page import write_report
    from allocator.report.reader import ReportError

    try:
        inst = load(args.instance) if args.instance else None
        written = write_report(args.plan, args.output, instance=inst)
    except ReportError as exc:
        print(f"allocator: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    print(f"wrote {written} ({written.stat().st_size:,} bytes)")
    return EXIT_OK


def _validate(args) -> int:
    """``allocator validate``: every problem of an instance at once."""
    from allocator.errors import InstanceError
    from allocator.inputs.validate import load

    try:
        inst = load(args.instance, overrides=_overrides(args))
        issues = inst.warnings
    except InstanceError as exc:
        issues = exc.issues
    errors = [i for i in issues if i.severity == "error"]
    if args.format == "json":
        print(json.dumps([i.__dict__ for i in issues], indent=2, ensure_ascii=False))
    elif issues:
        _print_issues(issues, sys.stdout, show_all=args.all)
    else:
        print(f"{args.instance}: valid (0 errors, 0 warnings)")
    return EXIT_INPUT if errors else EXIT_OK


def _solve(args) -> int:
    """``allocator solve``: one day's plan (flat or two-level), or a what-if against it (``--set``)."""
    from allocator.inputs.validate import load

    changes = None
    if args.changes:
        from allocator.inputs.edits import parse_changes

        if args.hierarchy or args.previous:
            other = "--hierarchy" if args.hierarchy else "--previous"
            print(
                f"allocator: error: --set compares two flat solves; it does not go with {other} (run the "
                f"what-if without {other})",
                file=sys.stderr,
            )
            return EXIT_INPUT
        changes = parse_changes(args.changes)  # bad syntax: exit 2 before the instance is read
    instance = load(args.instance, overrides=_overrides(args))
    if changes is not None:
        return _run_whatif(args, instance, changes)
    from allocator.pipeline.run import solve
    from allocator.report.folder import render_json, render_text, write_outputs

    memory = None if args.memory_limit is None else args.memory_limit * 2**30
    if (args.gap or args.workers != 1) and not args.hierarchy or args.workers < 1:
        print("allocator: error: --gap and --workers N (1 or more) go with --hierarchy", file=sys.stderr)
        return EXIT_INPUT
    if args.previous and args.hierarchy:
        print("allocator: error: --previous goes with a flat solve, not with --hierarchy", file=sys.stderr)
        return EXIT_INPUT
    if args.hierarchy:
        from allocator.pipeline.hierarchy import hierarchy_text, solve_hierarchical

        result = solve_hierarchical(
            instance,
            workers=args.workers,
            gap=args.gap,
            time_limit=args.time_limit,
            memory_limit=memory,
            solver=args.solver,
        )
        if args.format == "text":
            sys.stdout.write(hierarchy_text(result))
    else:
        previous = None
        if args.previous:
            from allocator.report.reader import read_previous

            previous = read_previous(args.previous, instance)
            for note in previous.unknown:
                print(f"warning: --previous {args.previous}: {note}", file=sys.stderr)
        result = solve(
            instance,
            time_limit=args.time_limit,
            memory_limit=memory,
            solver=args.solver,
            previous=previous,
            explain=not args.no_explain,
            whole=args.whole,
        )
    if args.output:
        from time import perf_counter

        t = perf_counter()
        written = write_outputs(result, args.output, excel=args.excel)
        result.timings["write"] = perf_counter() - t
    if args.report:
        written_report = _write_html_report(args, instance, lambda folder: write_outputs(result, folder))
    if args.format == "json":
        print(render_json(result))
    else:
        sys.stdout.write(render_text(result, top=args.top, shipments=args.shipments, regions=args.regions))
        if args.output:
            print(f"\nwrote {', '.join(str(p) for p in written)}")
        if args.report:
            print(f"wrote {written_report} ({written_report.stat().st_size:,} bytes)")
    return EXIT_OK


def _days(args) -> int:
    """``allocator plan`` and ``allocator replay``: several days at once, or a rolling horizon over them."""
    from allocator.inputs.validate import load

    instance = load(args.instance, overrides=_overrides(args))
    return _run_days(args, instance)


def _verify(args) -> int:
    """``allocator verify``: a plan folder (a day's, or a multi-day plan's or replay's) against the rules."""
    from allocator.inputs.validate import load

    instance = load(args.instance, overrides=_overrides(args))
    from pathlib import Path

    from allocator.numbers import figure_text
    from allocator.numbers import quantity_text as _qty
    from allocator.pipeline.check import verify
    from allocator.report.reader import KINDS, read_folder, read_plan

    folder = Path(args.plan)
    # A multi-day folder (allocator plan or replay --output: shipments.csv, fill.csv, by_day.csv, summary.json
    # and no dispatch.csv) is verified day by day; any other folder as a day's plan, as before.
    if (
        folder.is_dir()
        and not (folder / "dispatch.csv").exists()
        and set(KINDS["plan"][2]) <= {p.name for p in folder.iterdir()}
    ):
        import pandas as pd

        from allocator.verification.days import verify_days

        read = read_folder(folder)
        print(
            "warning: the optimality of a multi-day plan is not checked (it is not solved again), only its "
            "feasibility and its reported objective",
            file=sys.stderr,
        )
        ver = verify_days(instance, read.tables, summary=read.summary)
        viol = ver.violations
        m = ver.metrics
        if args.format == "json":
            print(
                json.dumps(
                    {
                        "ok": ver.ok,
                        "metrics": m,
                        "violations": json.loads(viol.to_json(orient="records")),
                    },
                    indent=2,
                )
            )
            return EXIT_OK if ver.ok else EXIT_VIOLATION

        def violation_line(rec) -> str:
            row = None if pd.isna(rec.row) else f"row {rec.row}"
            where = ", ".join(x for x in (rec.file, row) if x)
            return f"{rec.severity}: [{rec.rule}] {where + ': ' if where else ''}{rec.detail}"

        days = [d["day"] for d in m["by_day"]]
        for d in m["by_day"]:
            print(f"{d['day']}: delivered {_qty(d['delivered'])} | weighted shortfall {_qty(d['weighted_shortfall'])}")
            for rec in viol.loc[viol["day"] == d["day"]].itertuples(index=False):
                print(f"  {violation_line(rec)}")
        for rec in viol.loc[~viol["day"].isin(days)].itertuples(index=False):
            print(violation_line(rec))
        objective = m.get("objective_weighted_shortfall")
        print(
            f"weighted shortfall {_qty(m['weighted_shortfall'])}"
            + (f"; with the time preference and floors {_qty(objective)}" if objective is not None else "")
            + (
                f" (summary.json {_qty(m['reported_weighted_shortfall'])})"
                if "reported_weighted_shortfall" in m
                else ""
            )
            + f"; delivered {_qty(m['delivered'])} over {m['days']} day(s); route cost {_qty(m['route_cost'])}"
        )
        n_err = int((viol["severity"] == "error").sum())
        print(f"{args.plan}: {'OK' if ver.ok else 'FAILED'}: {n_err} violation(s), {len(viol) - n_err} warning(s)")
        return EXIT_OK if ver.ok else EXIT_VIOLATION

    dispatch, fill = read_plan(args.plan)
    ver = verify(instance, dispatch, fill=fill, optimality=not args.no_optimality)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "ok": ver.ok,
                    "metrics": ver.metrics,
                    "violations": json.loads(ver.violations.to_json(orient="records")),
                },
                indent=2,
            )
        )
    else:
        import pandas as pd

        viol = ver.violations
        for rec in viol.itertuples(index=False):
            row = None if pd.isna(rec.row) else f"row {rec.row}"
            where = ", ".join(x for x in (rec.file, row) if x)
            print(f"{rec.severity}: [{rec.rule}] {where + ': ' if where else ''}{rec.detail}")
        m = ver.metrics

        def q(key: str) -> str:
            return figure_text(m[key])

        print(
            f"weighted shortfall {q('weighted_shortfall')}"
            + (f" (optimum {q('optimal_weighted_shortfall')})" if "optimal_weighted_shortfall" in m else "")
            + f"; route cost {q('route_cost')}"
            + (f" (least {q('optimal_route_cost')})" if "optimal_route_cost" in m else "")
        )
        n_err = int((viol["severity"] == "error").sum())
        print(f"{args.plan}: {'OK' if ver.ok else 'FAILED'}: {n_err} violation(s), {len(viol) - n_err} warning(s)")
    return EXIT_OK if ver.ok else EXIT_VIOLATION


COMMANDS = {
    "solve": _solve,
    "plan": _days,
    "replay": _days,
    "report": _report,
    "validate": _validate,
    "generate": _generate,
    "verify": _verify,
    "batch": _batch,
    "bench": _bench,
}


def _run(args) -> int:
    """One function per subcommand (``COMMANDS``)."""
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
