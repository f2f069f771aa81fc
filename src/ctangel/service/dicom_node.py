"""The service as a DICOM node: a Storage SCP whose received studies become jobs, and a sender of the SEG.

A scanner or PACS sends a study with C-STORE; every instance of an association is written to a fresh upload
folder in the data folder and, when the association is released, the folder is queued as a job through
:meth:`JobService.submit` (the same checks, limits, queue and viewer as an upload). An aborted association
leaves nothing behind. Instances that are not CT images are refused one by one with status 0x0122 (SOP class
not supported); instances beyond the upload limits with 0xA700 (out of resources). With a destination, the
job's DICOM SEG objects are sent back with C-STORE once the job is done.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ctangel.errors import ConfigError
from ctangel.report.writer import DICOM_SEG_DIR
from ctangel.service.config import OUTPUT_DIR
from ctangel.service.intake import remove_tree
from ctangel.service.privacy import service_logger
from ctangel.service.upload import ReceivedFile

if TYPE_CHECKING:
    from pynetdicom import AE
    from pynetdicom.transport import ThreadedAssociationServer

    from ctangel.service.jobs import JobService

log = service_logger

DEFAULT_AE_TITLE: Final = "CTANGEL"
#: C-STORE statuses (PS3.4 Annex B.2.3).
STATUS_SUCCESS: Final = 0x0000
STATUS_REFUSED_SOP_CLASS: Final = 0x0122
STATUS_OUT_OF_RESOURCES: Final = 0xA700
STATUS_CANNOT_UNDERSTAND: Final = 0xC000
#: CT Image Storage and Enhanced CT Image Storage: what the pipeline reads.
CT_SOP_CLASSES: Final = frozenset({"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1"})
#: A SOP instance UID usable as a file name (UIDs are digits and dots, at most 64 characters).
_UID: Final = re.compile(r"^[0-9.]{1,64}$")
#: Seconds between looks at the jobs whose SEG is to be sent back.
SEND_POLL_S: Final = 1.0
#: Seconds a C-STORE of the SEG may take (association, send, release) before it is given up.
SEND_TIMEOUT_S: Final = 60.0
#: ``AE@host:port``.
_DESTINATION: Final = re.compile(r"^(?P<ae>[^@\\]{1,16})@(?P<host>[^:@]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class DicomDestination:
    """Where SEG objects are sent: a C-STORE SCP.

    Args:
        ae_title: its AE title.
        host: its address.
        port: its TCP port.
    """

    ae_title: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> DicomDestination:
        """``AE@host:port``.

        Raises:
            ConfigError: the text is not of that form.
        """
        m = _DESTINATION.match(text.strip())
        if m is None or not 0 < int(m["port"]) < 65536:
            raise ConfigError(f"--dicom-destination must be AE@host:port (e.g. PACS@10.0.0.5:104), got {text!r}")
        return cls(m["ae"].strip(), m["host"], int(m["port"]))


@dataclass(frozen=True)
class DicomNodeConfig:
    """The DICOM node's settings.

    Args:
        port: TCP port of the Storage SCP.
        ae_title: its AE title (called AE titles are not checked: any caller may send).
        host: address to listen on.
        destination: where each job's SEG is sent once done, or None.
    """

    port: int
    ae_title: str = DEFAULT_AE_TITLE
    host: str = "127.0.0.1"
    destination: DicomDestination | None = None


@dataclass
class _Arrival:
    """One association's instances so far."""

    folder: Path
    files: list[ReceivedFile] = field(default_factory=list)
    size: int = 0
    refused: int = 0


class DicomNode:
    """A Storage SCP feeding :class:`JobService`, and a sender of finished jobs' SEG objects.

    Args:
        config: port, AE title, destination.
        service: the job service (opened) that received studies are submitted to.
    """

    def __init__(self, config: DicomNodeConfig, service: JobService) -> None:
        self.config = config
        self.service = service
        self._arrivals: dict[int, _Arrival] = {}
        self._lock = threading.Lock()
        self._pending: dict[str, DicomDestination] = {}
        self._stop = threading.Event()
        self._server: ThreadedAssociationServer | None = None
        self._sender: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen on the port (in a thread) and start the sender.

        Raises:
            ConfigError: the port cannot be listened on.
        """
        from pynetdicom import evt

        ae = self._scp_ae()
        handlers = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_RELEASED, self._on_released),
            (evt.EVT_ABORTED, self._on_aborted),
            (evt.EVT_CONN_CLOSE, self._on_aborted),
        ]
        try:
            self._server = ae.start_server(
                (self.config.host, self.config.port),
                block=False,
                evt_handlers=handlers,  # type: ignore[arg-type]
            )
        except OSError as exc:
            raise ConfigError(f"DICOM port {self.config.port}: cannot listen ({exc}); choose another") from exc
        self._sender = threading.Thread(target=self._send_loop, name="ctangel-dicom-send", daemon=True)
        self._sender.start()
        log.info("DICOM node %s listening on %s:%d", self.config.ae_title, self.config.host, self.config.port)

    def stop(self) -> None:
        """Stop listening and sending; arrivals not yet released are removed."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._sender is not None:
            self._sender.join(timeout=SEND_TIMEOUT_S)
        with self._lock:
            for arrival in self._arrivals.values():
                remove_tree(arrival.folder)
            self._arrivals.clear()

    def _scp_ae(self) -> AE:
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

        ae = AE(ae_title=self.config.ae_title)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.maximum_pdu_size = 0
        return ae

    # --- receiving ----------------------------------------------------------------------------------

    def _on_store(self, event: Any) -> int:
        """Keep a CT instance in its association's folder; refuse anything else with a status."""
        sop_class = str(event.request.AffectedSOPClassUID)
        sop_uid = str(event.request.AffectedSOPInstanceUID)
        if sop_class not in CT_SOP_CLASSES:
            log.info("DICOM node: refused an instance of SOP class %s (not CT)", sop_class)
            return STATUS_REFUSED_SOP_CLASS
        arrival = self._arrival(event.assoc)
        limits = self.service.config
        try:
            encoded = event.encoded_dataset()
        except Exception as exc:  # whatever the peer sent, only this instance fails
            log.warning("DICOM node: an instance could not be decoded (%s)", exc)
            return STATUS_CANNOT_UNDERSTAND
        if len(arrival.files) >= limits.max_zip_files or arrival.size + len(encoded) > limits.max_upload_bytes:
            arrival.refused += 1
            return STATUS_OUT_OF_RESOURCES
        name = f"{sop_uid}.dcm" if _UID.match(sop_uid) else f"instance-{len(arrival.files):06d}.dcm"
        path = arrival.folder / f"part-{len(arrival.files):06d}"
        path.write_bytes(encoded)
        arrival.files.append(ReceivedFile(path, name, len(encoded)))
        arrival.size += len(encoded)
        return STATUS_SUCCESS

    def _arrival(self, assoc: Any) -> _Arrival:
        with self._lock:
            arrival = self._arrivals.get(id(assoc))
            if arrival is None:
                arrival = _Arrival(self.service.new_upload_dir())
                self._arrivals[id(assoc)] = arrival
            return arrival

    def _on_released(self, event: Any) -> None:
        """The study is complete: queue it as a job."""
        with self._lock:
            arrival = self._arrivals.pop(id(event.assoc), None)
        if arrival is None:
            return
        if not arrival.files:
            remove_tree(arrival.folder)
            return
        from ctangel.service.intake import UploadError

        try:
            job = self.service.submit(arrival.folder, arrival.files)
        except UploadError as exc:
            log.warning("DICOM node: %d instance(s) from %s not queued: %s", len(arrival.files), _peer(event), exc)
            return
        log.info("DICOM node: job %s queued from %s (%d instances)", job.id, _peer(event), len(arrival.files))
        if arrival.refused:
            log.warning("DICOM node: %d instance(s) refused: over the upload limits", arrival.refused)
        if self.config.destination is not None:
            with self._lock:
                self._pending[job.id] = self.config.destination

    def _on_aborted(self, event: Any) -> None:
        """The association broke off (or the connection closed unreleased): forget its instances."""
        with self._lock:
            arrival = self._arrivals.pop(id(event.assoc), None)
        if arrival is not None:
            remove_tree(arrival.folder)
            log.info("DICOM node: association from %s ended unreleased; its instances were dropped", _peer(event))

    # --- sending the SEG back -----------------------------------------------------------------------

    def _send_loop(self) -> None:
        while not self._stop.wait(SEND_POLL_S):
            with self._lock:
                pending = dict(self._pending)
            for job_id, destination in pending.items():
                job = self.service.store.get(job_id)
                if job is not None and job.status in ("queued", "running"):
                    continue
                with self._lock:
                    self._pending.pop(job_id, None)
                if job is None or job.status != "done":
                    log.warning("DICOM node: job %s did not finish; no SEG sent", job_id)
                    continue
                segs = sorted((self.service.layout.job(job_id) / OUTPUT_DIR / DICOM_SEG_DIR).glob("*.dcm"))
                for path in segs:
                    send_file(path, destination, self.config.ae_title)


def send_file(path: Path, destination: DicomDestination, calling_ae: str) -> bool:
    """C-STORE one DICOM file to ``destination``; whether it was stored (failures are logged)."""
    import pydicom
    from pynetdicom import AE

    ds = pydicom.dcmread(path)
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = SEND_TIMEOUT_S
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not assoc.is_established:
        log.error(
            "DICOM node: %s@%s:%d refused the association", destination.ae_title, destination.host, destination.port
        )
        return False
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    ok = bool(status) and int(status.Status) == STATUS_SUCCESS
    if ok:
        log.info("DICOM node: SEG sent to %s", destination.ae_title)
    else:
        log.error("DICOM node: %s did not store the SEG (status %s)", destination.ae_title, status)
    return ok


def _peer(event: Any) -> str:
    requestor = event.assoc.requestor
    return f"{requestor.ae_title} ({requestor.address})"
