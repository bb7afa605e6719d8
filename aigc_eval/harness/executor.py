"""Executors run cells. `local` runs them in order in this process; `ray` (aigc_eval.harness.ray_executor)
runs them as Ray tasks. Both return one result dict per cell, in the order given."""
from __future__ import annotations

from .cell import run_cell


class LocalExecutor:
    name = "local"

    def run(self, jobs, runtime, force=False, progress=True, log=print) -> list[dict]:
        """jobs: list of (spec, ctx, cell_dir)."""
        results = []
        for i, (spec, ctx, cell_dir) in enumerate(jobs, 1):
            result = run_cell(spec, ctx, cell_dir, runtime, force=force, progress=progress, log=log)
            state = "cached" if result.get("cached") else result["status"]
            log(f"[{i}/{len(jobs)}] {spec.name}: {state}")
            results.append(result)
        return results
