"""Finished runs from a notebook or the shell: the notebook API, listing and comparing runs, the end-of-run summary."""
