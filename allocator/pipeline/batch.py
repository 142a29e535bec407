"""Batch runs: many instances x policy scenarios, solved serially or on a Dask cluster.

A task is one instance solved under one scenario, a named list of policy overrides (the
``KEY=VALUE`` strings of ``allocator solve --policy``). ``run_batch`` solves every task and
returns one row per task, sorted by instance then scenario, whatever order the tasks finish in.

The scenarios file is a CSV file, one row per scenario::

    scenario,equity,weights.icu,routes.cost_per_km
    base,,,
    no-equity,off,,
    icu-first,,12,

Column ``scenario`` names the scenario (letters, digits, ``-``, ``_``, ``.``; unique); every
other column is a policy key (``equity``, ``icu_grade_for_general``, ``weights.<flag|icu|default>``,
``routes.cost_per_km``) and a cell is its value in that scenario. An empty cell keeps the
instance's own value (its ``policy.toml``, else the default).

Outcomes: an input error (bad data, bad override, an instance too large, an unwritable plan
folder) or a solver failure is final and is recorded in the task's row; any other exception
(a file system that went away, a killed worker) is retried up to ``retries`` times, and recorded
in the row when the retries are spent. Dask is imported only when a batch runs on it.
"""

from __future__ import annotations

import difflib
import os
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from allocator.errors import BatchError, InstanceError, Issue, PolicyError, SolverError
from allocator.inputs.policy import Policy
from allocator.numbers import percent_text, quantity_text

__all__ = [
    "BatchError",
    "COLUMNS",
    "Scenario",
    "Task",
    "make_tasks",
    "read_scenarios",
    "render_text",
    "run_batch",
    "run_task",
    "scheduler_label",
    "write_results",
]

COLUMNS = [
    "instance",
    "scenario",
    "overrides",
    "status",
    "weighted_shortfall",
    "route_cost",
    "delivered",
    "shortfall",
    "fill_rate",
    "shipments",
    "seconds",
    "attempts",
    "error",
    "error_kind",
]
BASE = "base"  # the scenario name of a task with no scenarios file
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_SHOWN_ISSUES = 5


@dataclass(frozen=True)
class Scenario:
    """A named set of policy overrides, e.g. ``Scenario("no-equity", ("equity=off",))``."""

    name: str
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    """One instance (folder or workbook path) solved under one scenario."""

    instance: str
    scenario: str = BASE
    overrides: tuple[str, ...] = ()


def read_scenarios(path: str | Path) -> list[Scenario]:
    """Read a scenarios CSV file; raise ``InstanceError`` listing every problem with file, row and column."""
    from allocator.inputs.files import read_csv_rows

    p = Path(path)
    file = p.name
    if p.suffix.lower() in (".toml", ".json", ".xlsx", ".xls", ".ods"):
        raise InstanceError(
            [
                Issue(
                    str(p),
                    None,
                    None,
                    "is not a CSV file: a scenarios file is CSV, a 'scenario' "
                    "column then one column per policy key (docs/guide.md, 'Batch runs and clusters')",
                )
            ]
        )
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InstanceError([Issue(str(p), None, None, f"cannot be read: {exc.strerror or exc}")]) from None
    frame, rows, issues = read_csv_rows(data, file)
    issues = [i for i in issues if i.severity == "error"]
    if frame is None:
        raise InstanceError(issues)
    columns = list(frame.columns)
    if "scenario" not in columns:
        issues.append(
            Issue(
                file,
                1,
                "scenario",
                "column is missing: the header needs a 'scenario' column naming "
                "each scenario, then one column per policy key (equity, weights.icu, ...)",
            )
        )
    keys = [c for c in columns if c != "scenario"]
    for key in keys:
        if not _known_key(key):
            close = difflib.get_close_matches(
                key,
                ["scenario", "equity", "icu_grade_for_general", "weights.icu", "weights.default", "routes.cost_per_km"],
                n=1,
            )
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            issues.append(
                Issue(
                    file,
                    1,
                    key,
                    f"is not a policy key{hint}: expected equity, icu_grade_for_general, "
                    "weights.<flag|icu|default> or routes.cost_per_km",
                )
            )
    if not len(frame):
        issues.append(Issue(file, None, None, "has no scenarios: expected one row per scenario under the header"))
    scenarios: list[Scenario] = []
    seen: dict[str, int] = {}
    for row, record in zip(rows, frame.to_dict("records")):
        name = record.get("scenario", "")
        if "scenario" in columns:
            if not name:
                issues.append(Issue(file, row, "scenario", "is empty: every scenario needs a name"))
            elif not _NAME.fullmatch(name):
                issues.append(
                    Issue(
                        file,
                        row,
                        "scenario",
                        f"'{name}' is not a usable name: expected letters, "
                        "digits, '-', '_' or '.' (it names the plan folder), not starting with '.' "
                        "or '-'",
                    )
                )
            elif name in seen:
                issues.append(
                    Issue(
                        file,
                        row,
                        "scenario",
                        f"'{name}' is given again (first in row {seen[name]}): scenario names must be unique",
                    )
                )
            else:
                seen[name] = row
        overrides = []
        for key in keys:
            value = record[key]
            if not value or not _known_key(key):
                continue
            try:
                Policy().with_overrides([f"{key}={value}"])
            except PolicyError as exc:
                issues.append(Issue(file, row, key, str(exc).removeprefix("policy override: ")))
                continue
            overrides.append(f"{key}={value}")
        scenarios.append(Scenario(name, tuple(overrides)))
    if issues:
        raise InstanceError(issues)
    return scenarios


def _known_key(key: str) -> bool:
    parts = key.split(".")
    if len(parts) == 1:
        return key in ("equity", "icu_grade_for_general", "unmet")
    return (
        len(parts) == 2
        and bool(parts[1])
        and (
            parts[0] in ("weights", "region_weight")
            or key
            in ("routes.cost_per_km", "horizon.time_preference", "floor.days", "floor.weight", "substitution.cost")
        )
    )


def make_tasks(instances: list[str | Path], scenarios: list[Scenario] | None = None) -> list[Task]:
    """Every instance crossed with every scenario; without scenarios each instance once, as ``base``."""
    scenarios = scenarios or [Scenario(BASE)]
    return [Task(str(inst), s.name, tuple(s.overrides)) for inst in instances for s in scenarios]


def run_task(task: Task, *, time_limit: float | None = None, plan_dir: str | None = None) -> dict:
    """Load and solve one task (and write its plan folder); return its row as small plain data.

    Input errors and solver failures are returned in the row; any other exception propagates,
    so that the caller (Dask, or the serial loop) retries it.
    """
    from allocator.build.guard import InstanceTooLarge
    from allocator.inputs.validate import load
    from allocator.pipeline.run import solve
    from allocator.report.folder import OutputError, write_outputs

    t = time.perf_counter()
    row = {"instance": task.instance, "scenario": task.scenario, "overrides": "; ".join(task.overrides)}
    try:
        result = solve(load(task.instance, overrides=list(task.overrides)), time_limit=time_limit)
        if plan_dir is not None:
            write_outputs(result, plan_dir)
    except (InstanceError, PolicyError, InstanceTooLarge, OutputError, SolverError) as exc:
        kind = "solver" if isinstance(exc, SolverError) else "input"
        row.update(status="error", error=_message(exc, task), error_kind=kind)
    else:
        totals = result.summary()["totals"]
        row.update(
            status=result.status,
            weighted_shortfall=float(result.objective["weighted_shortfall"]),
            route_cost=float(result.objective["route_cost"]),
            delivered=float(totals["delivered"]),
            shortfall=float(totals["shortfall"]),
            fill_rate=float(totals["fill_rate"]),
            shipments=int(totals["shipments"]),
            error="",
            error_kind="",
        )
    row["seconds"] = time.perf_counter() - t
    return row


def _message(exc: Exception, task: Task) -> str:
    if isinstance(exc, InstanceError):
        errors = [i for i in exc.issues if i.severity == "error"]
        text = "; ".join(str(i) for i in errors[:_SHOWN_ISSUES])
        if len(errors) > _SHOWN_ISSUES:
            text += f"; ... and {len(errors) - _SHOWN_ISSUES} more (all of them: allocator validate {task.instance})"
        return text
    if isinstance(exc, PolicyError):
        return f"policy error: {exc}"
    if isinstance(exc, SolverError):
        return f"solver failed: {exc}"
    return str(exc)


def _dask_task(topic: str, index: int, task: Task, time_limit: float | None, plan_dir: str | None) -> dict:
    """What a Dask worker runs: note the attempt on the scheduler, then ``run_task``."""
    from distributed import get_worker

    get_worker().log_event(topic, index)
    return run_task(task, time_limit=time_limit, plan_dir=plan_dir)


def run_batch(
    tasks: list[Task | tuple],
    *,
    scheduler=None,
    workers: int = 2,
    retries: int = 1,
    time_limit: float | None = None,
    output_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Solve every task; return one row per task, sorted by instance then scenario.

    Parameters
    ----------
    tasks:
        ``Task`` objects or ``(instance, scenario, overrides)`` tuples; (instance, scenario) must
        be unique.
    scheduler:
        ``None`` or ``"local"``: a ``distributed.LocalCluster`` of ``workers`` processes with one
        thread each, started and closed here; ``"serial"``: in this process, without Dask; an
        address (``"tcp://host:8786"``): an existing cluster, whose workers must have allocator
        installed and see the instance paths (and ``output_dir``); or a ``distributed.Client``.
    retries:
        How many times a task is run again after an exception other than an input error or a
        solver failure (Dask's ``retries``); a worker that dies is also replaced and its task rerun
        (Dask's ``allowed-failures``). ``attempts`` counts the runs a task took.
    time_limit:
        Solver seconds per task (``allocator.solve(time_limit=...)``).
    output_dir:
        When given, each task's plan folder is written to ``output_dir/<instance>/<scenario>/``.

    Columns: ``COLUMNS``. ``status`` is ``optimal``, ``time_limit`` or ``error``; ``error`` holds the
    message and ``error_kind`` is ``input`` (bad data or policy, exit code 2 of the CLI) or ``solver``
    (exit code 3), both empty for a task that ran.
    """
    tasks = sorted(_normalised(tasks), key=lambda t: (t.instance, t.scenario))
    # Workers get absolute paths: a remote worker's working directory is not the client's.
    remote = [Task(str(Path(t.instance).absolute()), t.scenario, t.overrides) for t in tasks]
    counts = Counter((os.path.normpath(t.instance), t.scenario) for t in remote)
    dupes = sorted(
        f"{t.instance} / {t.scenario}"
        for t, r in zip(tasks, remote)
        if counts[os.path.normpath(r.instance), r.scenario] > 1
    )
    if dupes:
        raise BatchError("each (instance, scenario) may appear once; given more than once: " + ", ".join(dupes))
    if retries < 0:
        raise BatchError(f"retries must be 0 or more, not {retries}")
    if output_dir is not None and Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise BatchError(f"--output {output_dir}: is a file; expected a folder for results.csv and the plans")
    plan_dirs = _plan_dirs(tasks, output_dir)
    if scheduler == "serial":
        rows = [_serial(t, time_limit, d, retries) for t, d in zip(remote, plan_dirs)]
    else:
        rows = _on_dask(remote, plan_dirs, scheduler=scheduler, workers=workers, retries=retries, time_limit=time_limit)
    if len(rows) != len(tasks) or any(row["scenario"] != t.scenario for row, t in zip(rows, tasks)):
        raise AssertionError("every submitted task must have exactly one row, in task order")
    for task, row in zip(tasks, rows):
        row["instance"] = task.instance  # as given, not the absolute path
    return _table(rows)


def _normalised(tasks) -> list[Task]:
    out = []
    for t in tasks:
        if not isinstance(t, Task):
            instance, scenario, overrides = t
            t = Task(str(instance), str(scenario), tuple(overrides))
        if isinstance(t.overrides, str):
            raise BatchError(f"task {t.instance} / {t.scenario}: overrides must be a list of KEY=VALUE strings")
        out.append(Task(str(t.instance), t.scenario, tuple(t.overrides)))
    return out


def _plan_dirs(tasks: list[Task], output_dir) -> list[str | None]:
    """``output_dir/<instance name>/<scenario>``; instance names that clash get ``-2``, ``-3``, ..."""
    if output_dir is None:
        return [None] * len(tasks)
    root = Path(output_dir).absolute()
    labels: dict[str, str] = {}
    used: set[str] = set()
    for t in tasks:
        if t.instance in labels:
            continue
        p = Path(t.instance).resolve()
        base = p.stem if p.suffix.lower() in (".xlsx", ".xlsm") else p.name
        base = base or "instance"
        label, n = base, 1
        while label in used:
            n += 1
            label = f"{base}-{n}"
        used.add(label)
        labels[t.instance] = label
    return [str(root / labels[t.instance] / t.scenario) for t in tasks]


def _serial(task: Task, time_limit, plan_dir, retries: int) -> dict:
    for attempt in range(1, retries + 2):
        try:
            row = run_task(task, time_limit=time_limit, plan_dir=plan_dir)
        except Exception as exc:  # retried, then recorded: one task never stops the batch
            if attempt <= retries:
                continue
            row = _failed(task, exc)
        row["attempts"] = attempt
        return row
    raise AssertionError("unreachable")


def _failed(task: Task, exc: BaseException) -> dict:
    return {
        "instance": task.instance,
        "scenario": task.scenario,
        "overrides": "; ".join(task.overrides),
        "status": "error",
        "error": f"{type(exc).__name__}: {exc}".rstrip(": "),
        "error_kind": "solver",
    }


def _on_dask(tasks: list[Task], plan_dirs, *, scheduler, workers: int, retries: int, time_limit) -> list[dict]:
    import contextlib
    import logging

    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler is None or scheduler == "local":
            if workers < 1:
                raise BatchError(f"workers must be 1 or more, not {workers}")
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(Client(cluster))
        elif isinstance(scheduler, str):
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except (OSError, ValueError, TypeError) as exc:
                raise BatchError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from None
        else:
            client = scheduler  # a distributed.Client the caller owns
        return _gather(client, tasks, plan_dirs, retries=retries, time_limit=time_limit)


def _gather(client, tasks: list[Task], plan_dirs, *, retries: int, time_limit, fn=_dask_task) -> list[dict]:
    """Submit every task and turn each future (result or exception) into a row as it completes.

    A result is fetched as soon as its task finishes: one left on a worker that dies later
    would be lost and computed again.
    """
    from distributed import as_completed

    topic = f"allocator-batch-{uuid.uuid4().hex}"
    futures = [
        client.submit(fn, topic, i, task, time_limit, d, key=f"{topic}-{i}", retries=retries, pure=False)
        for i, (task, d) in enumerate(zip(tasks, plan_dirs))
    ]
    index = {fut.key: i for i, fut in enumerate(futures)}
    rows: list[dict | None] = [None] * len(tasks)
    try:
        for fut in as_completed(futures):
            i = index[fut.key]
            try:
                rows[i] = fut.result()
            except Exception as exc:  # retries spent, worker deaths, cancelled by the cluster: the row says which
                rows[i] = _failed(tasks[i], exc)
    finally:
        client.cancel(futures)  # release them on a cluster the caller keeps
    missing = [tasks[i] for i, row in enumerate(rows) if row is None]
    assert not missing, f"tasks without a result: {missing}"
    attempts = [0] * len(tasks)
    try:
        for _, i in client.get_events(topic):
            attempts[i] += 1
    except Exception:  # attempts are informative only; a scheduler may not keep events
        pass
    for row, n in zip(rows, attempts):
        row["attempts"] = max(n, 1)
    return rows


def _table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for col in ("instance", "scenario", "overrides", "status", "error", "error_kind"):
        frame[col] = frame[col].where(frame[col].notna(), "").astype(str)
    for col in ("weighted_shortfall", "route_cost", "delivered", "shortfall", "fill_rate", "seconds"):
        frame[col] = frame[col].astype("float64")
    frame["shipments"] = frame["shipments"].astype("Int64")
    frame["attempts"] = frame["attempts"].astype("int64")
    return frame.reset_index(drop=True)


def scheduler_label(scheduler, workers: int) -> str:
    if scheduler == "serial":
        return "serially in this process"
    if scheduler is None or scheduler == "local":
        return f"on a local cluster of {workers} worker process(es)"
    return f"on the cluster at {scheduler}" if isinstance(scheduler, str) else "on the given Dask client"


def write_results(table: pd.DataFrame, folder: str | Path) -> Path:
    """Write ``results.csv`` (one row per task, as ``run_batch`` returns it) into ``folder``."""
    from allocator.report.folder import _write_file, csv_text

    path = Path(folder) / "results.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_file(path, csv_text(table.astype({"shipments": "float64"})).encode("utf-8"))  # NA: an empty cell
    return path


def render_text(table: pd.DataFrame, wall: float, where: str) -> str:
    """The results table, each error in full, and the throughput line."""
    shown = [
        "instance",
        "scenario",
        "overrides",
        "status",
        "weighted_shortfall",
        "route_cost",
        "delivered",
        "fill_rate",
        "shipments",
        "seconds",
        "attempts",
    ]
    text = {
        "instance": table["instance"],
        "scenario": table["scenario"],
        "overrides": table["overrides"],
        "status": table["status"],
    }
    for col in ("weighted_shortfall", "route_cost", "delivered"):
        text[col] = table[col].map(lambda v: quantity_text(v, 2, missing=""))
    text["fill_rate"] = table["fill_rate"].map(lambda v: percent_text(v, missing=""))
    text["shipments"] = table["shipments"].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    text["seconds"] = table["seconds"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    text["attempts"] = table["attempts"].map(str)
    cells = pd.DataFrame(text)[shown]
    left = {"instance", "scenario", "overrides", "status"}
    widths = {c: max(len(c), *(len(v) for v in cells[c])) if len(cells) else len(c) for c in shown}

    def line(values) -> str:
        return "  ".join(
            v.ljust(widths[c]) if c in left else v.rjust(widths[c]) for c, v in zip(shown, values)
        ).rstrip()

    out = [line(shown), line(["-" * widths[c] for c in shown])]
    out += [line(rec) for rec in cells.itertuples(index=False)]
    failed = table[table["status"] == "error"]
    if len(failed):
        out += ["", f"Errors ({len(failed)})"]
        out += [f"{r.instance} / {r.scenario}: {r.error}" for r in failed.itertuples(index=False)]
    n = len(table)
    out += [
        "",
        f"{n} task(s), {n - len(failed)} ok, {len(failed)} error(s), {wall:.2f} s wall {where}: "
        f"{n / wall if wall > 0 else 0:.2f} tasks/s",
    ]
    return "\n".join(out) + "\n"
