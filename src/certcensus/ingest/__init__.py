"""Ingest captures people already have (s_client output, PEM/DER/PKCS#7 files, certcensus JSON)
into the same store as live probes, and compare them with a baseline chain."""

from certcensus.ingest.capture import Capture, Problem
from certcensus.ingest.files import read_capture_file
from certcensus.ingest.pipeline import IngestResult, ingest_paths

__all__ = ["Capture", "Problem", "read_capture_file", "IngestResult", "ingest_paths"]
