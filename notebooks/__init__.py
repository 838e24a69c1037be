"""The ops report notebooks (merge_audit.ipynb, backlog.ipynb) and their papermill runner, `notebooks.run`."""
