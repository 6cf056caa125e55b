"""The workbench: runner, notebook worker, notebook results, report rendering, scheduler, templates."""
