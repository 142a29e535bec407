"""HiGHS adapter (``highspy``): an LP kept in memory and changed in place between solves,
so that each lexicographic stage and each fairness pass warm-starts from the last basis."""

from __future__ import annotations

import numpy as np

from allocator.engine.backends.base import LPResult, Status

__all__ = ["HighsLP"]


class HighsLP:
    """Minimise ``c @ x`` subject to ``row_lower <= A x <= row_upper``, ``col_lower <= x <= col_upper``."""

    name = "highs"

    def __init__(
        self, *, col_lower, col_upper, row_lower, row_upper, start, index, value, time_limit: float | None = None
    ) -> None:
        import highspy

        self._hs = highspy
        self._inf = highspy.kHighsInf
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        h.setOptionValue("random_seed", 0)
        h.setOptionValue("solver", "simplex")
        # Fairness rows carry demand / (largest demand of its tier), down to 1e-12 at the
        # quantity limits: keep such coefficients rather than drop them as noise.
        h.setOptionValue("small_matrix_value", 1e-13)
        if time_limit is not None:
            h.setOptionValue("time_limit", float(time_limit))
        lp = highspy.HighsLp()
        n_col, n_row = len(col_lower), len(row_lower)
        lp.num_col_ = n_col
        lp.num_row_ = n_row
        lp.col_cost_ = np.zeros(n_col)
        lp.col_lower_ = self._clip(col_lower)
        lp.col_upper_ = self._clip(col_upper)
        lp.row_lower_ = self._clip(row_lower)
        lp.row_upper_ = self._clip(row_upper)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.asarray(start, dtype=np.int32)
        lp.a_matrix_.index_ = np.asarray(index, dtype=np.int32)
        lp.a_matrix_.value_ = np.asarray(value, dtype=np.double)
        h.passModel(lp)
        self._h = h
        self._integer = False  # set_integer: the solves are MIPs
        self.n_cols = n_col
        self.n_rows = n_row

    def _clip(self, a) -> np.ndarray:
        a = np.asarray(a, dtype=np.double).copy()
        a[a == np.inf] = self._inf
        a[a == -np.inf] = -self._inf
        return a

    def set_time_limit(self, seconds: float | None) -> None:
        """At most ``seconds`` more for the next solves. HiGHS checks ``time_limit`` against its
        run clock, which adds up every ``run`` of this object: the limit is that clock plus ``seconds``."""
        if seconds is None:
            self._h.setOptionValue("time_limit", float("inf"))
            return
        self._h.setOptionValue("time_limit", self._h.getRunTime() + max(float(seconds), 0.0))

    def set_costs(self, cost: np.ndarray) -> None:
        cost = np.asarray(cost, dtype=np.double)
        idx = np.arange(len(cost), dtype=np.int32)
        self._h.changeColsCost(len(cost), idx, cost)

    def set_col_bounds(self, cols, lower, upper) -> None:
        cols = np.asarray(cols, dtype=np.int32)
        if len(cols) == 0:
            return
        lower = np.broadcast_to(np.asarray(lower, dtype=np.double), cols.shape)
        upper = np.broadcast_to(np.asarray(upper, dtype=np.double), cols.shape)
        self._h.changeColsBounds(len(cols), cols, self._clip(lower), self._clip(upper))

    def set_row_bounds(self, rows, lower, upper) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        lower = self._clip(np.broadcast_to(np.asarray(lower, dtype=np.double), rows.shape))
        upper = self._clip(np.broadcast_to(np.asarray(upper, dtype=np.double), rows.shape))
        for r, lo, hi in zip(rows, lower, upper):
            self._h.changeRowBounds(int(r), float(lo), float(hi))

    def set_integer(self, cols) -> None:
        """Make ``cols`` integer: the next ``solve`` is a MIP, solved to a proven optimum
        (relative gap 0, absolute gap 1e-7)."""
        cols = np.asarray(cols, dtype=np.int32)
        if len(cols) == 0:
            return
        self._integer = True
        kind = np.full(len(cols), self._hs.HighsVarType.kInteger)
        self._h.changeColsIntegrality(len(cols), cols, kind)
        self._h.setOptionValue("mip_rel_gap", 0.0)
        self._h.setOptionValue("mip_abs_gap", 1e-7)
        self._h.setOptionValue("mip_feasibility_tolerance", 1e-7)
        # HiGHS 1.12's MIP presolve returned a wrong "optimal" value and a false "infeasible"
        # on small multi-day models with attrition (tests/test_multiday.py, the regressions);
        # without presolve both solve to the true optimum.
        self._h.setOptionValue("presolve", "off")

    def set_start(self, x: np.ndarray) -> None:
        """A feasible plan for the next MIP solve to start from: branch and bound keeps it as its
        incumbent, so a solve the time limit stops returns at least this plan."""
        x = np.asarray(x, dtype=np.double)
        cols = np.arange(len(x), dtype=np.int32)
        self._h.setSolution(len(x), cols, x)

    def set_coefficient(self, row: int, col: int, value: float) -> None:
        """Change one entry of the matrix."""
        self._h.changeCoeff(int(row), int(col), float(value))

    def add_col(self, cost: float, lower: float, upper: float) -> int:
        self._h.addCol(float(cost), float(lower), float(upper), 0, np.zeros(0, np.int32), np.zeros(0))
        self.n_cols += 1
        return self.n_cols - 1

    def add_rows(self, lower, upper, start, index, value) -> np.ndarray:
        n = len(lower)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        self._h.addRows(
            n,
            self._clip(lower),
            self._clip(upper),
            len(index),
            np.asarray(start, dtype=np.int32),
            np.asarray(index, dtype=np.int32),
            np.asarray(value, dtype=np.double),
        )
        first = self.n_rows
        self.n_rows += n
        return np.arange(first, first + n)

    def solve(self) -> LPResult:
        h = self._h
        warm = not self._integer and h.getBasis().valid
        h.run()
        ms = h.getModelStatus()
        M = self._hs.HighsModelStatus
        if ms in (M.kUnknown, M.kSolveError) or (warm and ms == M.kInfeasible):
            # An LP warm-started after many changes can end in "Unknown", or in "Infeasible" with
            # a primal infeasibility of 1e-6 left, where the same LP solved from scratch is
            # optimal (the side model's equity passes, generated province instance, 2026-11-23):
            # solve it once more without the previous basis.
            h.clearSolver()
            h.run()
            ms = h.getModelStatus()
        status = {
            M.kOptimal: Status.OPTIMAL,
            M.kInfeasible: Status.INFEASIBLE,
            M.kUnbounded: Status.UNBOUNDED,
            M.kUnboundedOrInfeasible: Status.INFEASIBLE,
            M.kTimeLimit: Status.TIME_LIMIT,
        }.get(ms, Status.ERROR)
        sol = h.getSolution()
        info = h.getInfo()
        return LPResult(
            status=status,
            objective=float(info.objective_function_value),
            x=np.asarray(sol.col_value, dtype=float),
            col_dual=np.asarray(sol.col_dual, dtype=float),
            row_dual=np.asarray(sol.row_dual, dtype=float),
            row_value=np.asarray(sol.row_value, dtype=float),
            message=h.modelStatusToString(ms),
            bound=float(info.mip_dual_bound) if self._integer else None,
            has_solution=status is Status.OPTIMAL or int(info.primal_solution_status) == 2,  # 2: feasible
        )
