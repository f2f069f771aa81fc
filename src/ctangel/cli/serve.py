"""``ctangel serve``: the web service (REST API and browser UI) with its worker processes."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from ctangel.cli.options import AnalysisOptions, analysis_options
from ctangel.service.config import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_KEEP_INPUTS_S,
    DEFAULT_MAX_UNZIPPED_BYTES,
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_MAX_ZIP_FILES,
    DEFAULT_WORKERS,
    MIB,
    TOKEN_ENV,
    default_data_dir,
)


@analysis_options
def serve_command(
    host: Annotated[str, typer.Option(help="address to listen on (127.0.0.1: this machine only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="job database, uploads and results (default $CTANGEL_DATA, else ~/.local/share/ctangel)"),
    ] = None,
    workers: Annotated[int, typer.Option(help="worker processes (each loads the models once)")] = DEFAULT_WORKERS,
    max_upload_mib: Annotated[int, typer.Option(help="largest upload, MiB")] = DEFAULT_MAX_UPLOAD_BYTES // MIB,
    max_unzipped_mib: Annotated[
        int, typer.Option(help="largest total a zip or .nii.gz may unpack to, MiB")
    ] = DEFAULT_MAX_UNZIPPED_BYTES // MIB,
    max_zip_files: Annotated[int, typer.Option(help="most files in a zip or an upload")] = DEFAULT_MAX_ZIP_FILES,
    keep_inputs_s: Annotated[
        float,
        typer.Option(
            help="seconds an uploaded study is kept after its job ends (0: deleted when it ends; results are kept)",
            min=0,
        ),
    ] = DEFAULT_KEEP_INPUTS_S,
    header_timeout_s: Annotated[
        float, typer.Option(help="seconds a client has to send a request's headers", min=0.1)
    ] = DEFAULT_HEADER_TIMEOUT_S,
    body_timeout_s: Annotated[
        float, typer.Option(help="seconds an upload may stall between two chunks", min=0.1)
    ] = DEFAULT_BODY_TIMEOUT_S,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
    dicom_port: Annotated[
        int | None, typer.Option(help="also run a DICOM Storage SCP on this port (studies become jobs)")
    ] = None,
    ae_title: Annotated[str, typer.Option(help="the DICOM node's AE title")] = "CTANGEL",
    dicom_destination: Annotated[
        str | None, typer.Option(help="send each DICOM job's SEG here with C-STORE: AE@host:port")
    ] = None,
    *,
    analysis: AnalysisOptions,
) -> None:
    """Serve the browser UI and the REST API; jobs run in worker processes and survive restarts.

    The access token comes from $CTANGEL_TOKEN, else from DATA_DIR/token, made (and shown once) at first start.
    """
    import uvicorn

    from ctangel.inference import AnalysisSettings
    from ctangel.service import ServiceConfig, create_app
    from ctangel.service.config import load_or_create_token
    from ctangel.service.jobs import check_data_dir_free
    from ctangel.service.privacy import guard_logs
    from ctangel.service.timeouts import protocol_with_header_timeout

    level = logging.getLevelNamesMapping().get(log_level.upper())
    if level is None:
        raise typer.BadParameter(f"--log-level must be debug, info, warning or error, got {log_level!r}")
    logging.getLogger().setLevel(level)
    folder = data_dir or default_data_dir()
    check_data_dir_free(folder)
    token, created = load_or_create_token(folder)
    dicom = None
    if dicom_port is not None:
        from ctangel.service.dicom_node import DicomDestination, DicomNodeConfig

        destination = None if dicom_destination is None else DicomDestination.parse(dicom_destination)
        dicom = DicomNodeConfig(dicom_port, ae_title, host, destination)
    elif dicom_destination is not None:
        raise typer.BadParameter("--dicom-destination needs --dicom-port")
    config = ServiceConfig(
        data_dir=folder,
        token=token,
        max_upload_bytes=max_upload_mib * MIB,
        max_unzipped_bytes=max_unzipped_mib * MIB,
        max_zip_files=max_zip_files,
        max_image_pixels=analysis.max_image_pixels,
        keep_inputs_s=keep_inputs_s,
        deidentify=analysis.deidentify,
        body_timeout_s=body_timeout_s,
        workers=workers,
        analysis=AnalysisSettings(**analysis.settings),
        dicom=dicom,
    )
    if created:
        typer.echo(f"access token (shown this once; kept in {config.layout.token}, mode 0600):\n  {token}")
    else:
        source = f"${TOKEN_ENV}" if os.environ.get(TOKEN_ENV) else str(config.layout.token)
        typer.echo(f"access token: from {source}")
    typer.echo(f"data folder: {folder}")
    typer.echo(f"open http://{host}:{port}/ in a browser (API schema: /api/openapi.json)")
    if dicom is not None:
        typer.echo(f"DICOM node {dicom.ae_title} on {host}:{dicom.port} (C-STORE a CT series; it becomes a job)")
    logging.captureWarnings(True)
    guard_logs()
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        log_level=level,
        log_config=None,
        http=protocol_with_header_timeout(header_timeout_s),
    )
