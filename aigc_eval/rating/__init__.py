"""Human preference: a local pairwise rating app (`aigc-eval rate`), its vote store, Bradley–Terry
scores and the report rebuilt with them (`aigc-eval report`). The web app needs the `rate` extra
(FastAPI, uvicorn); scoring and export/import do not."""
