"""What every demo step shares: the table, the tracking URI, the manifest of
ids written so far, and how to print and fail."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn


class DemoError(Exception):
    """A step did not do what it should; the message says what."""


def fail(msg: str) -> NoReturn:
    raise DemoError(msg)


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        fail(f"{name} is not set (run me through scripts/demo.sh)")
    return value


def table() -> str:
    return env("DEMO_TABLE")


FORMATS = ("v0.1", "main")


def table_format() -> str:
    """The table format the demo writes (DEMO_FORMAT, set by scripts/demo.sh
    from `make demo FORMAT=...`): `v0.1` (PyPI 0.1.0, the default) or `main`
    (the reference's main branch, in .venv-main)."""
    fmt = os.environ.get("DEMO_FORMAT") or "v0.1"
    if fmt not in FORMATS:
        fail(f"DEMO_FORMAT={fmt!r}: expected one of {', '.join(FORMATS)}")
    return fmt


def is_main() -> bool:
    return table_format() == "main"


def stack_name() -> str:
    """The CloudFormation stack the store creates for the table."""
    return table() if is_main() else f"mlflow-dynamodbstore-{table()}"


def endpoint() -> str:
    return env("AWS_ENDPOINT_URL")


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def aws(service: str) -> Any:
    """A boto3 client for the emulator (AWS_ENDPOINT_URL from the environment)."""
    import boto3

    return boto3.client(service, region_name=region())


def tracking_uri() -> str:
    """The reference store's URI form for an explicit endpoint."""
    return f"dynamodb://{endpoint()}/{table()}"


def manifest_path() -> Path:
    return Path(env("DEMO_STATE")) / "manifest.json"


def load_manifest() -> dict[str, Any]:
    path = manifest_path()
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def save_manifest(data: dict[str, Any]) -> None:
    manifest_path().write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")


def say(msg: str = "") -> None:
    print(f"  {msg}" if msg else "", flush=True)


def quiet_mlflow() -> None:
    """Keep MLflow's INFO chatter out of the demo (MLflow sets up its loggers
    on import, so this imports it first)."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    import mlflow  # noqa: F401

    logging.getLogger("mlflow").setLevel(logging.WARNING)


def client() -> Any:
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)  # the tracer's exporter reads the global URI
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def run_main(main: Any) -> None:
    """Run a step's main(); a DemoError becomes a one-line message and exit 1."""
    try:
        main()
    except DemoError as e:
        print(f"\nFAILED: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
