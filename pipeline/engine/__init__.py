"""The engine: the stage type and its context, the runner, the run directory, fingerprints, integrity, the manifest, the lock, logs, resume, executors and shards. It imports no stage."""
